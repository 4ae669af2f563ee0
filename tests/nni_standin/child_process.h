// Runs a trial program as a real child process, the way NNI does: its own environment,
// stdout and stderr captured to files, bounded in time (killed when over).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace nnilib::standin {

/// How a child process ended.
struct ProcessResult {
  int exit_code = -1;      ///< exit status; -1 when killed by a signal
  int term_signal = 0;     ///< the signal that killed it (0 when it exited)
  bool timed_out = false;  ///< killed (SIGKILL) because it ran past the timeout
  std::string out;         ///< everything it wrote on stdout
  std::string err;         ///< everything it wrote on stderr
  double seconds = 0;      ///< wall time
};

/// The environment of a child: the parent's, minus every NNI variable (NNI_*,
/// MULTI_PHASE, REUSE_MODE), plus `overrides`.
using Environment = std::map<std::string, std::string>;

/// NNI 3.x local: NNI_PLATFORM=local, NNI_EXP_ID, NNI_TRIAL_JOB_ID, NNI_TRIAL_SEQ_ID=0,
/// NNI_SYS_DIR and NNI_OUTPUT_DIR = sys_dir, NNI_TRIAL_COMMAND_CHANNEL = url.
Environment nni_v3_environment(const std::string& url, const std::string& trial_id,
                               const std::string& sys_dir);
/// NNI 2.x: the same without the command channel, with NNI_PLATFORM = `platform`
/// ("local" -> legacy file channel; "remote" -> legacy stdout channel).
Environment nni_legacy_environment(const std::string& platform, const std::string& trial_id,
                                   const std::string& sys_dir);

/// A fresh empty directory under $TMPDIR (or /tmp); the caller removes it.
std::string make_temp_dir(const std::string& prefix);

/// A fresh temporary directory (make_temp_dir), removed with its content on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "nni-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  operator const std::string&() const { return path_; }

 private:
  std::string path_;
};

/// A running child. Its stdout/stderr go to files in a private temporary directory
/// (removed with the object).
/// The destructor kills it (SIGKILL) if it still runs.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const Environment& overrides,
               const std::string& work_dir = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// Sends `sig` to the child (as NNI sends SIGINT to a trial).
  void send_signal(int sig);
  /// What it has written so far.
  std::string stdout_so_far() const;
  std::string stderr_so_far() const;
  /// Waits for it to end; after `timeout` it is killed with SIGKILL and timed_out is set.
  ProcessResult wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  TempDir dir_;
  std::chrono::steady_clock::time_point started_;
};

/// Starts `argv` and waits for it (see ChildProcess).
ProcessResult run_process(const std::vector<std::string>& argv, const Environment& overrides,
                          std::chrono::milliseconds timeout, const std::string& work_dir = "");

}  // namespace nnilib::standin
