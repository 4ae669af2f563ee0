// Private to the runner: how long trials take, from the trials of the experiment, for
// the decisions a time limit needs (which trial may still start before the final
// training's reserve, which running one will end in time). Budgets are NNI's
// TRIAL_BUDGET (epochs for fmnist-trial); a trial that continues another's checkpoint
// only trains the difference.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/common/trial_budget.h"
#include "nnilib/runner/experiment_store.h"

namespace nnilib {

/// The trial `t` continues when the runner continues checkpoints: the one with a final
/// result (not FAILED), the same configuration and the largest budget below `t`'s;
/// nullptr when there is none.
const TrialRecord* predecessor_of(const TrialRecord& t, const std::vector<TrialRecord>& trials);

/// Seconds per unit of budget of the experiment's finished trials: a trial's duration
/// divided by the budget it trained (its own, less its predecessor's), start-up
/// included. Trials without a budget count as one unit each.
class TrialTimes {
 public:
  /// `continued`: whether promotions continue their predecessor's checkpoint.
  TrialTimes(const std::vector<TrialRecord>& trials, bool continued);

  /// The seconds per unit measured for `t`'s configuration (its own finished trials,
  /// the slowest of them); nullopt when none has finished.
  std::optional<double> configuration_rate(const TrialRecord& t) const;

  /// Expected seconds for `t` to run from its start: its configuration's rate, else
  /// the 90th percentile of every finished trial's (a new configuration may be a slow
  /// one), times the budget it trains; nullopt before any trial has finished.
  std::optional<double> expected_seconds(const TrialRecord& t) const;

  /// How many finished trials the figures come from.
  std::size_t count() const { return rates_.size(); }

 private:
  struct Rate {
    nlohmann::json configuration;
    double seconds_per_unit;
  };
  double trained_units(const TrialRecord& t) const;
  const std::vector<TrialRecord>& trials_;
  bool continued_;
  std::vector<Rate> rates_;
};

/// Seconds left of a running trial: from its progress.json when it is fresh (written
/// in the last 30 s: time left at its speed, +15% and 2 s for its evaluations and
/// exit), else the expected seconds less those it ran; nullopt when neither is known.
std::optional<double> seconds_left(const TrialRecord& t, const std::string& trial_dir,
                                   const TrialTimes& times, double now_unix);

}  // namespace nnilib
