// NNI's v2 experiment configuration (config.yml), as far as the embedded runner
// (fmnist-nas) supports it: a local HPO experiment with an embedded tuner and
// assessor. Fields are listed in docs/runner.md "Config fields".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/space/space.h"
#include "nnilib/tuner/tuner.h"

namespace nnilib {

/// A tuner or assessor section: `name` and `classArgs`.
struct AlgorithmConfig {
  std::string name;
  nlohmann::json class_args = nlohmann::json::object();
};

/// The limits a running experiment can change: a resume's --max-trial-number and
/// --max-experiment-duration, the dashboard's "limits" request. Each field that is set
/// replaces the experiment's value (ExperimentConfig::apply, the one place they merge).
struct ExperimentLimits {
  std::optional<std::int64_t> max_trial_number;           ///< >= 1
  std::optional<std::int64_t> max_experiment_duration_s;  ///< >= 1
  std::optional<int> trial_concurrency;                   ///< 1 .. 64

  /// {"maxTrialNumber": 50, "maxExperimentDuration": 10800, "trialConcurrency": 3}: the
  /// fields that are set, durations in seconds.
  nlohmann::json to_json() const;
  /// "maxTrialNumber 50, maxExperimentDuration 3h": the fields that are set.
  std::string describe() const;
  /// Reads a limits request: an object with at least one of maxTrialNumber (a positive
  /// integer), maxExperimentDuration (seconds, or an NNI duration such as "3h") and
  /// trialConcurrency (1 to 64), nothing else. Throws ParamError naming the culprit.
  static ExperimentLimits parse(const nlohmann::json& value);
};

/// A parsed and validated experiment config. Paths are absolute, resolved
/// against the config file's directory (and "~" expanded), as NNI does.
struct ExperimentConfig {
  std::string config_path;        ///< the file as named by the caller (used in messages)
  std::string experiment_name;    ///< empty when not given
  std::string search_space_file;  ///< absolute; empty when the space was given inline
  SearchSpace search_space;       ///< loaded from searchSpaceFile or searchSpace
  /// The search space as written (key order kept): what search_space was parsed from.
  nlohmann::ordered_json search_space_json = nlohmann::ordered_json::object();
  std::string trial_command;
  std::string trial_code_directory;  ///< absolute; default: the config's directory
  int trial_concurrency = 1;
  std::optional<std::int64_t> max_trial_number;
  std::optional<std::int64_t> max_experiment_duration_s;  ///< seconds
  std::optional<std::int64_t> max_trial_duration_s;       ///< seconds
  /// GPUs per trial (trialGpuNumber; the trainingService's value wins). Not given:
  /// trials see every GPU; 0: none (an empty CUDA_VISIBLE_DEVICES); N: N /
  /// max_trial_number_per_gpu GPUs each, from the runner's GPU scheduler.
  std::optional<int> trial_gpu_number;
  std::vector<int> gpu_indices;      ///< trainingService.gpuIndices (empty: every GPU)
  int max_trial_number_per_gpu = 1;  ///< trainingService.maxTrialNumberPerGpu
  bool use_active_gpu = false;       ///< trainingService.useActiveGpu
  AlgorithmConfig tuner;
  std::optional<AlgorithmConfig> assessor;
  std::string experiment_working_directory;  ///< absolute; default ~/nni-experiments
  std::string log_level = "info";            ///< fatal, error, warning, info, debug or trace
  bool debug = false;

  /// Reads and validates `path`. Throws ParamError with one line naming the
  /// file and the field: syntax errors (with line and column), unknown fields,
  /// wrong types or values, and options the embedded runner does not support
  /// (those messages point to nnictl). The tuner and assessor are checked with
  /// make_tuner()/make_assessor().
  static ExperimentConfig load(const std::string& path);
  /// Same, from YAML text; `path` names it in messages and its directory
  /// resolves relative paths.
  static ExperimentConfig parse(const std::string& yaml, const std::string& path);

  /// The resolved config as JSON with NNI's camelCase field names (absolute paths,
  /// durations in seconds, the search space inline): what an experiment stores so
  /// that it can be resumed without the original files.
  nlohmann::ordered_json to_json() const;
  /// The inverse of to_json(). `where` names the source in messages. Throws
  /// ParamError for a missing or ill-typed field, or a space/tuner that no
  /// longer validates.
  static ExperimentConfig from_json(const nlohmann::ordered_json& j, const std::string& where);

  /// Sets the limits `change` sets.
  void apply(const ExperimentLimits& change);
};

/// The direction the experiment optimizes: ranking_mode() (tuner/assessor.h) of the
/// config's tuner and assessor, for readers of a stored experiment (show, export).
OptimizeMode optimize_mode_of(const ExperimentConfig& config);

/// An NNI duration, "90s", "30m", "2h", "1d" (a decimal number and one unit,
/// case-insensitive; "1.5h" is allowed), in whole seconds rounded up, like NNI.
/// Throws ParamError for anything else, naming `text` and the units.
std::int64_t parse_duration(const std::string& text);

}  // namespace nnilib
