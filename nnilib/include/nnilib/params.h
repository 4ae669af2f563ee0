// Trial parameters (what NNI's tuner samples) -> a validated TrialSpec.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/model_spec.h"

namespace nnilib {

/// Training hyperparameters that come from the trial's parameters.
struct Hyperparameters {
  std::string optimizer = "adam";
  double learning_rate = 0.001;
  int batch_size = 64;
  int epochs = 10;
};

/// Everything a trial needs to know about what to train.
struct TrialSpec {
  ModelSpec model;
  Hyperparameters hyper;
  /// The parameters as applied: every accepted name with its value (defaults filled in).
  nlohmann::json parameters;
};

/// One accepted parameter, for validation messages, --help and the docs.
struct ParamInfo {
  std::string name;
  std::string type;             ///< "int" or "float"
  std::vector<double> choices;  ///< allowed values; empty = a range
  double min = 0;               ///< range bounds (inclusive) when choices is empty
  double max = 0;
  nlohmann::json default_value;
  std::string meaning;
  /// "32, 64, 128" or "[1e-06, 1]"
  std::string accepted() const;
};

/// The accepted parameters: the seed's names and choices, plus batch_size and epochs.
const std::vector<ParamInfo>& parameter_table();

/// NNI's Hyperband/BOHB budget key; maps to epochs = max(1, ceil(TRIAL_BUDGET)).
inline constexpr const char* kTrialBudgetKey = "TRIAL_BUDGET";

/// Validates `params` (a JSON object; missing names take their defaults) and builds
/// the seed's CNN: Conv(valid)+ReLU, Conv(valid)+ReLU, MaxPool 2, Flatten,
/// Linear+ReLU, Linear(10), trained with Adam. Throws ParamError naming the
/// parameter and listing what is accepted.
TrialSpec trial_spec_from_parameters(const nlohmann::json& params);

/// Merges `overrides` into `base` (both JSON objects); keys of overrides win.
nlohmann::json merge_parameters(nlohmann::json base, const nlohmann::json& overrides);

}  // namespace nnilib
