// Private to the runner: what a new experiment starts from: the results of earlier
// experiments (fmnist-nas run --warm-start DIR...) and configurations to train first
// (--enqueue FILE...). They are read once, when the experiment is created, and kept in
// its directory (warm_start.json), so that a resume finds the same even when the
// earlier experiments or the files have gone.
#pragma once

#include <string>
#include <vector>

#include "nnilib/runner/experiment_store.h"
#include "nnilib/space/space.h"
#include "nnilib/tuner/assessor.h"
#include "nnilib/tuner/tuner.h"

namespace nnilib {

/// What a warm start imports.
struct WarmStart {
  std::vector<std::string> sources;   ///< the earlier experiments' directories
  std::vector<ImportedTrial> trials;  ///< their SUCCEEDED trials inside the new space
  /// Per trial: the largest TRIAL_BUDGET of its experiment (0: none), so that a tuner
  /// without budgets takes only the results of full trainings.
  std::vector<double> source_max_budget;
  std::size_t outside = 0;  ///< results skipped: parameters outside the new space
  /// Configurations trained first, in this order, before the tuner's proposals, each as
  /// given (its TRIAL_BUDGET, if any, and its own schedule); points of the space.
  std::vector<nlohmann::json> enqueued;

  bool empty() const { return sources.empty() && enqueued.empty(); }
};

/// Reads the SUCCEEDED trials with a final result of each experiment directory (read
/// only: they may be running) and keeps those whose configuration is a point of
/// `space`. Throws UsageError naming a directory that is not an experiment.
WarmStart read_warm_start(const std::vector<std::string>& dirs, const SearchSpace& space);

/// Reads the parameters files of --enqueue: each a JSON object that is a point of `space`
/// (TRIAL_BUDGET aside, which must then be a positive number of epochs). Throws UsageError
/// naming the file and what is wrong with it.
std::vector<nlohmann::json> read_enqueued(const std::vector<std::string>& files,
                                          const SearchSpace& space);

/// The parameters the tuner takes a result with: `parameters` for a multi-fidelity tuner
/// (continued_budget() > 0: TRIAL_BUDGET places it), without TRIAL_BUDGET for the others.
nlohmann::json parameters_for(const Tuner& tuner, const nlohmann::json& parameters);

/// Writes `warm` to `path` atomically (IoError naming it).
void save_warm_start(const std::string& path, const WarmStart& warm);

/// Reads what save_warm_start wrote; an empty WarmStart when the file does not exist.
/// Throws IoError naming the file when it is damaged.
WarmStart load_warm_start(const std::string& path);

/// What `tuner` takes of `warm`: every result for a multi-fidelity tuner
/// (continued_budget() > 0); for the others only the results of full trainings (no
/// budget, or its experiment's largest), without TRIAL_BUDGET.
std::vector<ImportedTrial> warm_start_for(const Tuner& tuner, const WarmStart& warm);

/// Feeds a session's algorithms what came before it: the warm start's results (as
/// warm_start_for takes them), then the experiment's own finished trials (the tuner
/// imports the SUCCEEDED ones with a final result, as parameters_for gives them; the
/// assessor replays every finished trial's history). Trials that run again are left
/// out. Returns how many warm-start results the tuner took.
std::size_t replay_history(Tuner& tuner, Assessor* assessor, const std::vector<TrialRecord>& trials,
                           const WarmStart& warm);

}  // namespace nnilib
