#include "runner/session_context.h"

#include <algorithm>
#include <filesystem>

#include "nnilib/common/file_io.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/tuner/tuner_registry.h"
#include "runner/experiment_directory.h"
#include "runner/warm_start.h"

namespace nnilib {

std::string trial_label(const TrialRecord& t) {
  return "trial " + std::to_string(t.sequence) + " " + t.trial_id;
}

SessionContext::SessionContext(const std::string& dir, const RunnerOptions& runner_options)
    : options(runner_options), paths{std::filesystem::absolute(dir).lexically_normal().string()} {
  while (paths.dir.size() > 1 && paths.dir.back() == '/') paths.dir.pop_back();
}

SessionContext::Loaded SessionContext::load() {
  state.experiment = store->experiment();
  state.experiment_dir = paths.dir;
  config = ExperimentConfig::from_json(state.experiment.config, paths.database());
  config.apply(options.limits);
  state.experiment.config = config.to_json();
  state.trials = store->trials();
  state.tuner = config.tuner.name;
  state.assessor = config.assessor ? config.assessor->name : "";
  state.concurrency = config.trial_concurrency;
  state.max_trial_number = config.max_trial_number;
  base_elapsed = state.experiment.elapsed_s;
  require_trial_code_directory(config);

  const std::uint64_t seed =
      state.experiment.seed +
      0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(state.experiment.sessions);
  tuner = make_tuner(config.tuner.name, config.tuner.class_args, config.search_space, seed);
  if (config.assessor) assessor = make_assessor(config.assessor->name, config.assessor->class_args);
  state.mode = ranking_mode(*tuner, assessor.get());
  Loaded loaded;
  const WarmStart warm = load_warm_start(paths.warm_start());
  const std::size_t taken = replay_history(*tuner, assessor.get(), state.trials, warm);
  if (!warm.sources.empty())
    loaded.notes.push_back("warm start: " + config.tuner.name + " takes " + std::to_string(taken) +
                           " of " + std::to_string(warm.trials.size()) + " results of " +
                           std::to_string(warm.sources.size()) + " earlier experiment(s)" +
                           (warm.outside > 0 ? " (" + std::to_string(warm.outside) +
                                                   " more were outside this search space)"
                                             : ""));
  enqueued = warm.enqueued;
  for (const nlohmann::json& point : enqueued) {
    const bool ran = std::any_of(state.trials.begin(), state.trials.end(),
                                 [&](const TrialRecord& t) { return t.parameters == point; });
    if (!ran) loaded.enqueued.push_back(point);
  }
  if (!loaded.enqueued.empty())
    loaded.notes.push_back(std::to_string(loaded.enqueued.size()) +
                           " enqueued configuration(s) are trained first, as given");

  for (std::size_t i = 0; i < state.trials.size(); ++i) {
    TrialRecord& t = state.trials[i];
    if (t.finished() && !t.interrupted) continue;
    if (loaded.rerun.empty()) {
      if (const int killed = kill_leftover_trials(state.experiment.id); killed > 0)
        note("killed " + std::to_string(killed) +
             " leftover trial process(es) of the previous session");
    }
    store->reset_trial(t.trial_id);
    t = *store->trial(t.trial_id);
    loaded.rerun.push_back(i);
  }
  if (!loaded.rerun.empty())
    loaded.notes.push_back(std::to_string(loaded.rerun.size()) +
                           " interrupted trial(s) will run again");
  return loaded;
}

bool SessionContext::is_enqueued(const TrialRecord& t) const {
  return std::find(enqueued.begin(), enqueued.end(), t.parameters) != enqueued.end();
}

double SessionContext::elapsed() const {
  return base_elapsed + std::chrono::duration<double>(steady::now() - session_start).count();
}

void SessionContext::emit(RunnerEvent event, const TrialRecord* trial, const std::string& detail) {
  state.elapsed_s = elapsed();
  if (log) {
    log << format_time(unix_now()) << "  " << event_line(event, trial, detail, state) << "\n";
    log.flush();
  }
  if (options.observer != nullptr) options.observer->on_event(event, trial, detail, state);
}

void SessionContext::update_best_file() {
  const auto best = best_trial(state.trials, state.mode);
  if (!best) return;
  write_file_atomically(paths.best_parameters(), best->parameters.dump(2) + "\n",
                        "the best parameters");
}

}  // namespace nnilib
