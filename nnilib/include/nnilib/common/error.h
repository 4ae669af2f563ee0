// Errors with the user's words, and the exit codes the executables map them to.
#pragma once

#include <stdexcept>
#include <string>

namespace nnilib {

/// Process exit codes shared by every executable of the project (documented in
/// README.md "Exit codes"). Distinct per kind of failure so scripts and NNI logs
/// tell them apart.
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,      ///< unexpected failure (a bug, or a LibTorch error we did not foresee)
  kUsage = 2,         ///< bad command line
  kParams = 3,        ///< bad parameters or search space (unknown name, wrong type, out of range)
  kData = 4,          ///< missing or corrupt data file
  kDiverged = 5,      ///< training loss became NaN or infinite
  kChannel = 6,       ///< NNI channel failure (manager unreachable, malformed record, closed)
  kLimit = 7,         ///< architecture over a --max-params / --max-macs / --max-memory limit
  kIo = 8,            ///< cannot write an output file
  kSystem = 9,        ///< the system refused a resource (no free port, fork or getrandom failed)
  kNoResult = 10,     ///< fmnist-nas: the experiment ended and no trial has a result
  kInterrupted = 130  ///< stopped by SIGINT/SIGTERM (128 + SIGINT)
};

/// Base of every error nnilib throws on purpose. what() is one line that names
/// the culprit (file, JSON path, parameter) and what was wrong with it.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

/// A command-line usage error.
struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::kUsage, m) {}
};
/// A parameter or search-space error.
struct ParamError : Error {
  explicit ParamError(const std::string& m) : Error(ExitCode::kParams, m) {}
};
/// A data-file error (missing, truncated, wrong magic, ...).
struct DataError : Error {
  explicit DataError(const std::string& m) : Error(ExitCode::kData, m) {}
};
/// Training diverged (NaN or infinite loss).
struct DivergedError : Error {
  explicit DivergedError(const std::string& m) : Error(ExitCode::kDiverged, m) {}
};
/// The NNI channel failed (unreachable manager, malformed record, closed channel).
struct ChannelError : Error {
  explicit ChannelError(const std::string& m) : Error(ExitCode::kChannel, m) {}
};
/// The architecture exceeds a resource limit.
struct LimitError : Error {
  explicit LimitError(const std::string& m) : Error(ExitCode::kLimit, m) {}
};
/// A file could not be read or written (the message names it).
struct IoError : Error {
  explicit IoError(const std::string& m) : Error(ExitCode::kIo, m) {}
};
/// A signal stopped the work before it had a result: a wait for NNI abandoned because
/// ChannelOptions::cancelled returned true, loading the data, the precision probe.
struct Interrupted : Error {
  explicit Interrupted(const std::string& m) : Error(ExitCode::kInterrupted, m) {}
};
/// The operating system refused a resource that is not a file: a port, a process, random
/// bytes.
struct SystemError : Error {
  explicit SystemError(const std::string& m) : Error(ExitCode::kSystem, m) {}
};

}  // namespace nnilib
