// Readers for what the legacy channels write: .nni/metrics frames and NNISDK_MEb lines.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nnilib/trial/protocol.h"

namespace nnilib::standin {

/// Splits legacy metric frames byte-exactly: "ME", six decimal digits N, then exactly N
/// payload bytes ending with "\n". Returns the payloads without their "\n". Throws
/// std::runtime_error naming `source` and the byte offset of the first bad frame
/// (wrong magic, bad digits, truncated payload, missing "\n").
std::vector<std::string> parse_metric_frames(std::string_view bytes, const std::string& source);

/// Reads the file at `path` (e.g. $NNI_SYS_DIR/.nni/metrics) and parses its frames.
std::vector<std::string> read_metric_frames(const std::string& path);

/// The metric JSON of every `NNISDK_MEb'<metric JSON>'` line of captured stdout, as
/// NNI 2.x extracts it (the whole line must match). Throws std::runtime_error when a
/// line mentions NNISDK_MEb without matching exactly.
std::vector<std::string> parse_stdout_metrics(std::string_view captured_stdout);

/// Writes `record` to <sys_dir>/parameter.cfg as NNI 2.x does (creating sys_dir).
void write_parameter_file(const std::string& sys_dir, const ParameterRecord& record);

/// Reads a whole file (throws std::runtime_error naming it when it cannot).
std::string read_whole_file(const std::string& path);

}  // namespace nnilib::standin
