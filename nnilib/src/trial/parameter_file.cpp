#include "trial/parameter_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <sys/stat.h>

#include "trial/io_util.h"

namespace nnilib {
namespace {

// Reads the whole file; false when it does not exist (yet).
bool read_file(const std::string& path, std::string& out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    throw ChannelError("cannot stat parameter file " + path + ": " + std::strerror(errno));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ChannelError("cannot open parameter file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

ParameterRecord wait_for_parameter_file(const std::string& path, const ChannelOptions& options) {
  using clock = std::chrono::steady_clock;
  constexpr std::chrono::milliseconds kPoll{100};
  const auto deadline = clock::now() + options.parameter_wait;
  std::string failed_content;  // last non-empty content that did not parse
  for (;;) {
    std::string content;
    if (read_file(path, content) && !content.empty()) {
      try {
        return parse_parameter_record(content, path);
      } catch (const ChannelError&) {
        // Possibly caught mid-write: accept the error only once the content is stable.
        if (content == failed_content || clock::now() >= deadline) throw;
        failed_content = content;
      }
    }
    if (clock::now() >= deadline) {
      throw ChannelError("parameter file " + path + " did not appear (or stayed empty) within " +
                         std::to_string(options.parameter_wait.count()) + " ms");
    }
    if (!sleep_unless_cancelled(kPoll, options.cancelled)) {
      throw Interrupted("interrupted while waiting for parameter file " + path);
    }
  }
}

}  // namespace nnilib
