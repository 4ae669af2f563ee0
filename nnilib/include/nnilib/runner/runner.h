// The embedded NNI experiment runner (fmnist-nas): runs the trials of an NNI v2
// experiment on this machine as NNI 3.x's local training service does, without
// Python NNI. Trials are `/bin/bash -c trialCommand` processes talking NNI's v3
// HTTP channel (channel_server.h); the embedded tuner proposes parameters, the
// assessor stops bad trials early, and everything is stored as it happens in the
// experiment's SQLite database (experiment_store.h), from which an interrupted or
// killed experiment resumes. Documented in docs/runner.md. Free of LibTorch.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nnilib/runner/experiment_config.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/tuner/tuner.h"

namespace nnilib {

/// The files of an experiment directory.
struct ExperimentPaths {
  std::string dir;
  std::string database() const { return dir + "/experiment.db"; }
  std::string config() const { return dir + "/config.yml"; }
  std::string search_space() const { return dir + "/search_space.json"; }
  std::string log() const { return dir + "/runner.log"; }
  std::string best_parameters() const { return dir + "/best.json"; }
  std::string lock() const { return dir + "/.lock"; }
  std::string trial_dir(const std::string& trial_id) const { return dir + "/trials/" + trial_id; }
  /// fmnist-nas --final-train's: params.json, then progress.json, summary.json, model.pt.
  std::string final_dir() const { return dir + "/final"; }
  /// What it started from: the results of earlier experiments (fmnist-nas run
  /// --warm-start) and the configurations trained first (--enqueue).
  std::string warm_start() const { return dir + "/warm_start.json"; }
  /// Throws UsageError("<dir>: no such experiment directory") or "...: not an experiment
  /// directory (no experiment.db)" (exit 2, the same for run, resume, show and export).
  void require_existing() const;
};

/// How to create a new experiment.
struct NewExperimentOptions {
  /// The experiment directory; empty: <experimentWorkingDirectory>/<id>.
  std::string experiment_dir;
  /// The experiment id (8 lowercase letters or digits); empty: a random one.
  std::string id;
  /// The tuner seed; empty: derived from the id. Stored, so a resume is reproducible.
  std::optional<std::uint64_t> seed;
  /// Earlier experiments whose results seed the tuner (BOHB's densities, TPE's history):
  /// their SUCCEEDED trials inside this space, read now and kept in warm_start.json.
  std::vector<std::string> warm_start;
  /// Parameters files (JSON objects, points of the space) trained first, in this order,
  /// each as given, before the tuner proposes (Optuna's enqueue_trial): read now and kept
  /// in warm_start.json. The tuner takes their results as results from elsewhere.
  std::vector<std::string> enqueue;
};

/// Creates the experiment directory: the database with the experiment (status
/// RUNNING, no trials yet), a copy of the config file (when `config.config_path`
/// names a readable file), the search space, the warm start's results and the enqueued
/// configurations. Returns the directory. Throws UsageError for a bad or taken id /
/// directory, a warm-start directory that is not an experiment or an enqueued file
/// that is not a point of the space, IoError when a file cannot be written.
std::string create_experiment(const ExperimentConfig& config, const NewExperimentOptions& options);

/// A random id of `length` characters from `alphabet`.
std::string random_id(std::size_t length, const std::string& alphabet);

/// What happened, for the observer and runner.log.
enum class RunnerEvent {
  kBegin,          ///< the session starts (detail: "new" or "resume")
  kTrialStarted,   ///< the trial's process started
  kParameterSent,  ///< the trial fetched its parameters
  kMetric,         ///< a valid metric was stored (detail: "PERIODICAL 3" / "FINAL")
  kTrialStopping,  ///< the runner sent SIGINT (detail: why)
  kTrialEnded,     ///< the trial ended; its status and reason are set
  kWarning,        ///< something odd, not fatal (detail: one line)
  kNote,           ///< progress of the experiment (detail: one line)
  kEnd,            ///< the session ends (detail: the end reason)
};

/// The runner's state, as shown to observers.
struct RunnerState {
  ExperimentRecord experiment;
  std::string experiment_dir;
  std::string tuner;     ///< the tuner's name
  std::string assessor;  ///< "" when none
  int concurrency = 1;
  int threads_per_trial = 1;  ///< OMP_NUM_THREADS given to each trial (0: the user's)
  std::optional<std::int64_t> max_trial_number;
  OptimizeMode mode = OptimizeMode::kMaximize;
  std::vector<TrialRecord> trials;  ///< every trial, in sequence order
  double elapsed_s = 0;             ///< over every session
  bool stopping = false;            ///< no new trials: a stop condition was reached
};

/// Receives every event; called from the runner's thread.
class RunnerObserver {
 public:
  virtual ~RunnerObserver();
  /// `trial` is the trial concerned, or nullptr.
  virtual void on_event(RunnerEvent event, const TrialRecord* trial, const std::string& detail,
                        const RunnerState& state) = 0;
  /// About once a second (running times change).
  virtual void on_tick(const RunnerState& state);
};

/// One line for runner.log and the plain console log, e.g.
/// "trial 3 Ab1Cd EARLY_STOPPED after 4 result(s), final -: Medianstop: worse than the median".
std::string event_line(RunnerEvent event, const TrialRecord* trial, const std::string& detail,
                       const RunnerState& state);

struct RunResult;

/// How to run.
struct RunnerOptions {
  /// Cores to share among trials; 0: the cores this process may use.
  int cores = 0;
  /// SIGINT, then SIGKILL after this long (NNI: 5 s).
  std::chrono::milliseconds kill_grace{5000};
  /// Polled often: the signal that asks the runner to stop (SIGINT/SIGTERM), or 0.
  /// Trials then get SIGINT, and SIGKILL after kill_grace.
  std::function<int()> stop_signal;
  /// Polled often: true after a second stop signal; trials are killed at once.
  std::function<bool()> kill_now;
  RunnerObserver* observer = nullptr;
  /// Override the stored limits (resume with more trials or time).
  ExperimentLimits limits;
  /// The longest the loop sleeps. It wakes at once on a channel event, a trial's exit
  /// (SIGCHLD) or wake_runner(), and on time for every deadline, so this only bounds
  /// how late a change made from outside (stop_signal without wake_runner) is seen.
  std::chrono::milliseconds poll_interval{1000};
  /// Time to keep free at the end of maxExperimentDuration for a final training of the
  /// final_candidate trial (seconds, from that trial; null: none). No trial starts that
  /// is not expected to end before that reserve (from the experiment's own timings);
  /// once elapsed + reserve reaches the limit the search ends: a running trial that
  /// will end within final_finish_share of the reserve (its progress) finishes, the
  /// others are stopped (EARLY_STOPPED) and compete with their best intermediate result.
  std::function<double(const TrialRecord& best)> final_reserve_s;
  /// The share of the reserve that trials ending after the search's end may take from
  /// the final training (which fits its epochs to the time it gets): a result nearly in
  /// costs it a little time, not the result.
  double final_finish_share = 0.15;
  /// The reserve never exceeds this share of maxExperimentDuration, whatever the
  /// estimate (a best trial timed on a busy machine, a slow one, a short limit): the
  /// search keeps the rest, and the final training fits its epochs to the time it gets.
  double final_reserve_max_share = 0.5;
  /// Called once the search of a session that was not interrupted has ended, with its
  /// result, while the experiment is still locked: no other fmnist-nas can run or resume
  /// it meanwhile, and the dashboard shows it as running (fmnist-nas's final training).
  std::function<void(const RunResult& result)> after_search;
};

/// How a session ended.
struct RunResult {
  ExperimentRecord experiment;
  std::vector<TrialRecord> trials;
  std::optional<TrialRecord> best;
  OptimizeMode mode = OptimizeMode::kMaximize;
  bool interrupted = false;          ///< stopped by a signal: resumable
  int signal = 0;                    ///< that signal
  std::string best_parameters_path;  ///< best.json, when a trial succeeded with a result
};

/// Runs (or resumes) the experiment in `experiment_dir` until a stop condition:
/// maxTrialNumber trials, maxExperimentDuration (counted over every session), the
/// tuner has nothing more, or a stop signal. Trials that were running when an
/// earlier session was stopped or killed are run again; finished ones are kept
/// and replayed into the tuner (import_data) and the assessor. Holds a lock on
/// the directory: a second runner on it gets a UsageError. Throws IoError
/// (database, files), ParamError (stored config). Kills every trial it started
/// before it returns or throws.
RunResult run_experiment(const std::string& experiment_dir, const RunnerOptions& options);

/// Wakes a running run_experiment() loop now, e.g. after a stop signal: call it from
/// the SIGINT/SIGTERM handler that stop_signal reads. Async-signal-safe.
void wake_runner() noexcept;

/// True while a runner holds the experiment directory's lock (it is running now).
bool experiment_running(const std::string& experiment_dir);

/// The cores this process may run on (sched_getaffinity), at least 1.
int available_cores();

/// CUDA_VISIBLE_DEVICES for a training run after the search (every trial has ended, so
/// nothing is read): the first trialGpuNumber GPUs of gpuIndices (else 0 .. N-1), ""
/// for trialGpuNumber 0, nullopt (leave the variable alone) when it is not given.
std::optional<std::string> final_training_gpus(const ExperimentConfig& config);

}  // namespace nnilib
