#include "trial/legacy_stdout.h"

#include <cstdio>
#include <iostream>

#include <unistd.h>

#include "trial/io_util.h"
#include "trial/parameter_file.h"

namespace nnilib {

std::string make_stdout_metric_line(const std::string& metric_json) {
  if (metric_json.size() >= 1000000) {
    throw ChannelError("metric of " + std::to_string(metric_json.size()) +
                       " bytes is too long for NNI (limit 999999)");
  }
  return "NNISDK_MEb'" + metric_json + "'\n";
}

LegacyStdoutChannel::LegacyStdoutChannel(std::string sys_dir, ChannelOptions options)
    : sys_dir_(std::move(sys_dir)), options_(std::move(options)) {}

ParameterRecord LegacyStdoutChannel::receive_parameter() {
  return wait_for_parameter_file(sys_dir_ + "/parameter.cfg", options_);
}

void LegacyStdoutChannel::send_metric(const Metric&, const std::string& metric_json) {
  const std::string line = make_stdout_metric_line(metric_json);
  // The program's own output goes first, so the metric line starts a line of its own.
  std::cout.flush();
  std::fflush(stdout);
  write_whole(STDOUT_FILENO, line, "stdout");
}

}  // namespace nnilib
