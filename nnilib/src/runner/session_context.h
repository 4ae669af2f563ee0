// Private to the runner: what the parts of one runner session share (runner.cpp's
// Session owns it): the experiment's files, database, config and state, its tuner and
// assessor, the trials' channel, the session's clock and its log.
#pragma once

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnilib/runner/runner.h"
#include "nnilib/tuner/assessor.h"
#include "runner/channel_server.h"

namespace nnilib {

/// "trial 3 Ab1Cd": how the log names a trial.
std::string trial_label(const TrialRecord& t);

/// One session of an experiment, as its parts see it.
struct SessionContext {
  using steady = std::chrono::steady_clock;

  SessionContext(const std::string& dir, const RunnerOptions& runner_options);

  const RunnerOptions& options;
  ExperimentPaths paths;
  std::optional<ExperimentStore> store;
  std::ofstream log;  ///< runner.log
  ExperimentConfig config;
  RunnerState state;
  std::unique_ptr<Tuner> tuner;
  std::unique_ptr<Assessor> assessor;
  /// The configurations trained first (fmnist-nas run --enqueue), all of them.
  std::vector<nlohmann::json> enqueued;
  std::optional<ChannelServer> server;
  steady::time_point session_start = steady::now();
  double base_elapsed = 0;  ///< the earlier sessions' time

  /// Reads the experiment from the store: its config with options.limits applied, its
  /// trials and state, and its tuner (a new seed per session: the same history gives
  /// the same proposals) and assessor, fed what came before (replay_history). Trials an
  /// earlier session left unfinished are reset to run again, and processes of theirs a
  /// killed runner left behind are killed. Throws ParamError for a stored config that no
  /// longer validates or a trialCodeDirectory that has gone.
  struct Loaded {
    std::vector<std::size_t> rerun;        ///< the unfinished trials (indices into state.trials)
    std::vector<nlohmann::json> enqueued;  ///< enqueued configurations no trial has run yet
    std::vector<std::string> notes;        ///< lines for the log once the session has begun
  };
  Loaded load();

  /// Whether `t` trains an enqueued configuration (its parameters are one of `enqueued`):
  /// it runs as given (no checkpoint or schedule of a multi-fidelity tuner), and the tuner
  /// takes its result as one from elsewhere (import_data).
  bool is_enqueued(const TrialRecord& t) const;

  /// Seconds over every session.
  double elapsed() const;
  /// Writes the event to runner.log and tells the observer.
  void emit(RunnerEvent event, const TrialRecord* trial, const std::string& detail);
  /// A progress line (RunnerEvent::kNote).
  void note(const std::string& line) { emit(RunnerEvent::kNote, nullptr, line); }
  /// Writes best.json from the best trial so far (nothing when none).
  void update_best_file();
};

}  // namespace nnilib
