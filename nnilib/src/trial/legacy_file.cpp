#include "trial/legacy_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trial/io_util.h"
#include "trial/parameter_file.h"

namespace nnilib {

std::string make_metric_frame(const std::string& metric_json) {
  const std::size_t length = metric_json.size() + 1;
  if (length >= 1000000) {
    throw ChannelError("metric of " + std::to_string(length) +
                       " bytes is too long for a legacy frame (limit 999999)");
  }
  char header[9];
  std::snprintf(header, sizeof header, "ME%06zu", length);
  std::string frame(header, 8);
  frame += metric_json;
  frame += '\n';
  return frame;
}

LegacyFileChannel::LegacyFileChannel(std::string sys_dir, ChannelOptions options)
    : sys_dir_(std::move(sys_dir)),
      metrics_path_(sys_dir_ + "/.nni/metrics"),
      options_(std::move(options)) {}

LegacyFileChannel::~LegacyFileChannel() {
  if (fd_ >= 0) ::close(fd_);
}

ParameterRecord LegacyFileChannel::receive_parameter() {
  return wait_for_parameter_file(sys_dir_ + "/parameter.cfg", options_);
}

void LegacyFileChannel::send_metric(const Metric&, const std::string& metric_json) {
  const std::string frame = make_metric_frame(metric_json);
  if (fd_ < 0) {
    const std::string dir = sys_dir_ + "/.nni";
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      throw ChannelError("cannot create " + dir + ": " + std::strerror(errno));
    }
    fd_ = ::open(metrics_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw ChannelError("cannot open " + metrics_path_ + ": " + std::strerror(errno));
    }
  }
  write_whole(fd_, frame, metrics_path_);
}

}  // namespace nnilib
