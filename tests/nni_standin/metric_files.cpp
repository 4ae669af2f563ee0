#include "nni_standin/metric_files.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace nnilib::standin {

std::vector<std::string> parse_metric_frames(std::string_view bytes, const std::string& source) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const std::string at = source + " at byte " + std::to_string(pos) + ": ";
    if (bytes.size() - pos < 8) throw std::runtime_error(at + "truncated frame header");
    if (bytes.substr(pos, 2) != "ME") throw std::runtime_error(at + "frame does not start with ME");
    std::size_t length = 0;
    for (std::size_t i = pos + 2; i < pos + 8; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(bytes[i]))) {
        throw std::runtime_error(at + "length is not six decimal digits");
      }
      length = length * 10 + static_cast<std::size_t>(bytes[i] - '0');
    }
    pos += 8;
    if (length == 0) throw std::runtime_error(at + "empty payload");
    if (bytes.size() - pos < length) {
      throw std::runtime_error(at + "payload of " + std::to_string(length) +
                               " bytes truncated to " + std::to_string(bytes.size() - pos));
    }
    std::string_view payload = bytes.substr(pos, length);
    if (payload.back() != '\n') throw std::runtime_error(at + "payload does not end with \\n");
    if (payload.substr(0, length - 1).find('\n') != std::string_view::npos) {
      throw std::runtime_error(at + "payload holds more than one line");
    }
    out.emplace_back(payload.substr(0, length - 1));
    pos += length;
  }
  return out;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> read_metric_frames(const std::string& path) {
  return parse_metric_frames(read_whole_file(path), path);
}

std::vector<std::string> parse_stdout_metrics(std::string_view captured) {
  static constexpr std::string_view kPrefix = "NNISDK_MEb'";
  std::vector<std::string> out;
  std::size_t start = 0;
  int line_no = 0;
  while (start < captured.size()) {
    std::size_t end = captured.find('\n', start);
    if (end == std::string_view::npos) end = captured.size();
    std::string_view line = captured.substr(start, end - start);
    ++line_no;
    if (line.find("NNISDK_MEb") != std::string_view::npos) {
      if (line.substr(0, kPrefix.size()) != kPrefix || line.size() < kPrefix.size() + 1 ||
          line.back() != '\'') {
        throw std::runtime_error(
            "stdout line " + std::to_string(line_no) +
            " is not NNISDK_MEb'<metric>': " + std::string(line.substr(0, 120)));
      }
      out.emplace_back(line.substr(kPrefix.size(), line.size() - kPrefix.size() - 1));
    }
    start = end + 1;
  }
  return out;
}

void write_parameter_file(const std::string& sys_dir, const ParameterRecord& record) {
  std::filesystem::create_directories(sys_dir);
  const std::string path = sys_dir + "/parameter.cfg";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << encode_parameter_record(record);
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace nnilib::standin
