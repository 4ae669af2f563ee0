// What the embedded runner shows of an experiment: the trials table (live view and
// `fmnist-nas show`), the best trial, and the CSV / JSON exports. Pure formatting
// over ExperimentStore records; free of LibTorch.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/runner/experiment_store.h"
#include "nnilib/tuner/tuner.h"

namespace nnilib {

/// A parameter set flattened to leaves, in order: a nested choice gives its key
/// with the option's `_name`, then its sub-parameters as "key/sub".
/// {"lr": 0.1, "m": {"_name": "cnn", "k": 3}} -> lr=0.1, m="cnn", m/k=3.
std::vector<std::pair<std::string, nlohmann::json>> parameter_leaves(
    const nlohmann::json& parameters);

/// The flattened parameter names whose values differ across `trials` (all of
/// them when fewer than two trials, or when none differ), in first-seen order.
std::vector<std::string> key_parameters(const std::vector<TrialRecord>& trials);

/// A short name for a parameter: the initials of its "_"- and "/"-separated words, a
/// word ending in digits keeping them ("filter_size_c1" -> "fsc1", "conv4/channels" ->
/// "c4/c", "learning_rate" -> "lr"); a name of up to 4 characters is kept.
std::string abbreviate_parameter(const std::string& name);

/// Abbreviations for `names`, made unique (a clash keeps the full names).
std::vector<std::string> abbreviate_parameters(const std::vector<std::string>& names);

/// The best trial: among SUCCEEDED trials with a final result, the largest
/// (maximize) or smallest (minimize) final `default`; the earliest on ties.
std::optional<TrialRecord> best_trial(const std::vector<TrialRecord>& trials, OptimizeMode mode);

/// A trial as a candidate for the final training, with the result it competes with.
struct FinalCandidate {
  TrialRecord trial;
  double value = 0;      ///< its final result, or its best intermediate one
  bool partial = false;  ///< it ended without a final result (stopped early)
};

/// The configuration the final training takes: the best of the SUCCEEDED trials' final
/// results and of the best intermediate results of trials stopped early (EARLY_STOPPED,
/// or canceled from the dashboard) with at least one. A stopped trial's intermediate
/// results come from a run that had not ended (not annealed), so they understate what
/// its configuration reaches; a result better than every finished one is therefore
/// worth training. Failed and interrupted (re-run on resume) trials do not compete.
/// The earliest on ties; nullopt when no trial has a result.
std::optional<FinalCandidate> final_candidate(const std::vector<TrialRecord>& trials,
                                              OptimizeMode mode);

/// The best `n` candidates (as final_candidate ranks them) of distinct configurations
/// (parameters without TRIAL_BUDGET): for each configuration its best trial.
std::vector<FinalCandidate> final_candidates(const std::vector<TrialRecord>& trials,
                                             OptimizeMode mode, std::size_t n);

/// The best value a trial reached: over its intermediate results and its final one.
std::optional<double> trial_best_value(const TrialRecord& trial, OptimizeMode mode);

/// A metric value in 7 characters or less ("0.9123", "1.2e+05"); "-" for none.
std::string format_metric(std::optional<double> value);
/// A duration: "12.3s", "4:05", "1:02:03".
std::string format_duration(double seconds);
/// A Unix time as ISO 8601 UTC ("2024-05-01T12:00:00Z"); "" for none.
std::string format_time(std::optional<double> unix_seconds);

/// How to draw the trials table.
struct TableOptions {
  int width = 100;                              ///< characters per line (>= 60)
  OptimizeMode mode = OptimizeMode::kMaximize;  ///< which trial is best (marked "*")
  double now = 0;                               ///< Unix time, for running trials' durations
  /// Show at most this many trials (0: all): the running ones, the best and the
  /// latest; a line says how many were left out.
  std::size_t max_rows = 0;
  /// The experiment directory: running trials then show where they are inside their
  /// epoch (trial/progress.h: "e3/9 47% 312/s 1:20") when they write progress.json.
  std::string experiment_dir;
};

/// The trials table: sequence, trial id, status, progress (running trials, with
/// options.experiment_dir), epochs (intermediate results),
/// latest and best intermediate, final result, time, and the key parameters
/// (abbreviated, with a legend line). Lines end with "\n"; none is wider than
/// options.width.
std::string format_trials_table(const std::vector<TrialRecord>& trials,
                                const TableOptions& options);

/// `fmnist-nas export --format csv`: one row per trial, the parameters as
/// columns (flattened names), RFC 4180 quoting.
std::string export_csv(const std::vector<TrialRecord>& trials);

/// `fmnist-nas export --format json`: {"experiment": {...}, "best": {...} or null,
/// "trials": [{..., "parameters", "final", "intermediate": [values]}]}.
nlohmann::ordered_json export_json(const ExperimentRecord& experiment,
                                   const std::vector<TrialRecord>& trials,
                                   const std::vector<MetricRecord>& metrics, OptimizeMode mode);

}  // namespace nnilib
