// One trial process of the embedded runner, started the way NNI 3.x's local
// training service starts it: `/bin/bash -c <trialCommand>` in the trial code
// directory, stdout and stderr to files, an explicit environment. Free of LibTorch.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <sys/types.h>

namespace nnilib {

/// A process environment: variable -> value.
using EnvironmentMap = std::map<std::string, std::string>;

/// The runner's own environment without NNI's variables (NNI_*, MULTI_PHASE,
/// REUSE_MODE), so a runner started from inside a trial does not leak them.
EnvironmentMap environment_without_nni();

/// What to start.
struct ProcessLaunch {
  std::string command;            ///< run as /bin/bash -c <command>
  std::string working_directory;  ///< empty: the runner's own
  std::string stdout_path;        ///< truncated and written; empty: inherit the runner's
  std::string stderr_path;        ///< truncated and written; empty: inherit the runner's
  EnvironmentMap environment;     ///< the complete environment of the process
  /// Put the process in a process group of its own, so that a Ctrl-C in the
  /// terminal reaches only the runner, which then stops trials NNI's way.
  bool own_process_group = true;
  /// The process and everything it started are killed (SIGKILL) if the runner dies
  /// (kill -9 included).
  bool die_with_runner = true;
};

/// How a process ended.
struct ProcessExit {
  int exit_code = -1;  ///< exit status; -1 when killed by a signal
  int signal = 0;      ///< the signal that killed it; 0 when it exited
  bool exited() const { return signal == 0; }
  /// "exit code 3", "killed by SIGKILL".
  std::string describe() const;
};

/// "SIGINT", "SIGKILL", ... ("signal 42" for others).
std::string signal_name(int sig);

/// A started process. Not thread-safe. A small keeper process sits between the
/// runner and `bash -c <command>`: it adopts everything the command starts (even a
/// grandchild that called setsid), kills all of it when the command ends, when
/// kill_group() asks and when the runner dies, and then ends as the command ended, so
/// pid() is the keeper's and the exit status is the command's. The destructor kills
/// what still runs and reaps it: no process outlives it.
class TrialProcess {
 public:
  /// Starts the process. Throws, naming the command and the reason, IoError when an
  /// output file cannot be created or the working directory is missing, SystemError
  /// when the process cannot be started (fork, exec of /bin/bash).
  explicit TrialProcess(const ProcessLaunch& launch);
  ~TrialProcess();
  TrialProcess(const TrialProcess&) = delete;
  TrialProcess& operator=(const TrialProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return !exit_; }

  /// Reaps the process without blocking. Once it has ended (and whatever it left
  /// behind was killed), its exit is returned (again on every later call).
  std::optional<ProcessExit> poll();
  /// Blocks until the process ends.
  ProcessExit wait();

  /// Sends `sig` to the command's process itself, as NNI does (not to its children:
  /// a trialCommand should `exec` the trial); SIGKILL means kill_group(). No-op once it
  /// has ended.
  void signal(int sig);
  /// Kills (SIGKILL) the command and everything it started; the exit then reads
  /// "killed by SIGKILL".
  void kill_group();

 private:
  void reaped(int status);

  pid_t pid_ = -1;
  std::optional<ProcessExit> exit_;
};

}  // namespace nnilib
