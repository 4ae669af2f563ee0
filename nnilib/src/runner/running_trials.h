// Private to the runner: the trials a session is running: starting each one's process
// (NNI's environment, the channel, a checkpoint to continue), their channel events and
// metrics, NNI's stop (SIGINT, then SIGKILL after the grace period), maxTrialDuration,
// and what an ended trial's status is.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnilib/runner/trial_process.h"
#include "runner/gpu_slots.h"
#include "runner/session_context.h"

namespace nnilib {

/// Why the runner asked a trial to stop.
enum class StopCause {
  kNone,
  kAssessor,
  kTrialDuration,
  kReserve,  ///< it could not end before the final training's reserve
  kFault,
  kRunnerStop,
  kUserCancel
};

/// A running trial.
struct ActiveTrial {
  std::size_t index = 0;  ///< into SessionContext::state.trials
  std::unique_ptr<TrialProcess> process;
  std::chrono::steady_clock::time_point started;
  std::optional<std::chrono::steady_clock::time_point> kill_at;  ///< SIGKILL after SIGINT
  StopCause stop = StopCause::kNone;
  std::string stop_reason;
  bool final_received = false;
  bool finishing = false;  ///< after the search's end: it ends in time, and was told so
  double start_elapsed = 0;
  /// When it was expected to end (elapsed seconds), when it started before the reserve.
  std::optional<double> expected_end;
  std::vector<int> gpus;  ///< held from the GPU slots until the trial ends
};

/// An ended trial's status and reason (the record's status, reason, interrupted).
struct TrialOutcome {
  std::string status;
  std::string reason;
  bool interrupted = false;  ///< the runner stopped it: a resume runs it again
};

/// The status of a trial that ended with `exit` after the runner asked it to stop for
/// `cause` (kNone: it was not asked), as NNI 3.0 reports it. `stderr_line` is its
/// stderr's last line, which a failure's reason quotes.
TrialOutcome trial_outcome(StopCause cause, const std::string& stop_reason, const ProcessExit& exit,
                           bool final_received, const std::string& stderr_line);

/// Every trial's environment without its own variables: the runner's without NNI's,
/// with OMP_NUM_THREADS and MKL_NUM_THREADS set to the cores shared among `concurrency`
/// trials unless the user set them (an empty value counts as unset). `threads_per_trial`
/// is set to that share, or 0 when the user's OMP_NUM_THREADS is kept.
EnvironmentMap trial_base_environment(int cores, int concurrency, int& threads_per_trial);

/// The running trials of a session.
class RunningTrials {
 public:
  RunningTrials(SessionContext& session, std::optional<GpuSlots>& gpus, EnvironmentMap base_env);

  bool empty() const { return active_.empty(); }
  std::size_t size() const { return active_.size(); }
  std::vector<ActiveTrial>& all() { return active_; }

  /// Starts state.trials[index] with `gpus`; `expected_end` is when it should end
  /// (elapsed seconds). A trial that cannot be started ends FAILED at once.
  void start(std::size_t index, std::vector<int> gpus, std::optional<double> expected_end);
  void on_channel_event(ChannelEvent& e);
  /// NNI's stop: SIGINT to the trial, SIGKILL `kill_grace` later. The first cause is the
  /// one recorded (a trial stopped early stays early-stopped when the runner stops).
  void request_stop(ActiveTrial& a, StopCause cause, const std::string& reason);
  /// request_stop for every running trial.
  void stop_all(StopCause cause, const std::string& reason);
  /// Cancels the running trial `trial_id` (the dashboard): the result line.
  std::string cancel(const std::string& trial_id);
  /// SIGKILL to every running trial and all it started.
  void kill_all();
  /// SIGKILL after the grace period; maxTrialDuration.
  void enforce_deadlines();
  /// The next time enforce_deadlines() has something to do, if any.
  std::optional<std::chrono::steady_clock::time_point> next_deadline() const;
  /// Ends the trials whose process has ended, after the channel events they sent just
  /// before; returns how many ended.
  int reap();
  /// Kills and reaps every running trial (the session failed).
  void abort_all();

 private:
  ProcessLaunch launch_of(const TrialRecord& t, const std::string& dir,
                          const std::vector<int>& gpus) const;
  std::string predecessor_checkpoint(const TrialRecord& t) const;
  ActiveTrial* find(const std::string& trial_id);
  void on_metric(ActiveTrial& a, TrialRecord& t, const Metric& m);
  void end(std::size_t k);
  void finished_for_algorithms(const TrialRecord& t, bool succeeded);

  SessionContext& session_;
  std::optional<GpuSlots>& gpus_;
  EnvironmentMap base_env_;
  std::vector<ActiveTrial> active_;
};

}  // namespace nnilib
