// Trial parameters (what NNI's tuner samples) -> a validated TrialSpec.
// The names, types, ranges and defaults are the table in docs/search-space.md
// ("The model space"); parameter_table() is that table in code.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/model/model_spec.h"

namespace nnilib {

enum class Optimizer { kAdam, kAdamW, kSgd };
enum class Schedule {
  kConstant,
  kCosine,   ///< cosine decay from learning_rate to 0 over all steps
  kOneCycle  ///< PyTorch's OneCycleLR: cosine warm-up over 30% of the steps, then cosine decay
};

/// Data augmentation of training batches (validation and test images are never changed).
struct Augmentation {
  int crop_padding = 0;  ///< random crop of the image padded by this many pixels; 0 = off
  bool flip = false;     ///< horizontal flip with probability 1/2
  double erasing = 0;    ///< probability of erasing a random rectangle (Zhong et al. 2017)
  bool any() const { return crop_padding > 0 || flip || erasing > 0; }
};

/// Training hyperparameters that come from the trial's parameters.
struct Hyperparameters {
  Optimizer optimizer = Optimizer::kAdam;
  double learning_rate = 0.001;
  double weight_decay = 0;  ///< L2 penalty (adam, sgd) or decoupled decay (adamw)
  double momentum = 0.9;    ///< sgd only (Nesterov)
  int batch_size = 64;
  int epochs = 10;
  /// The epochs a multi-fidelity budget asks for (NNI's TRIAL_BUDGET), which may end
  /// inside an epoch (1/3: a third of an epoch's batches); 0 = `epochs` whole ones.
  /// `epochs` is then its ceiling.
  double budget_epochs = 0;
  Schedule schedule = Schedule::kConstant;
  double label_smoothing = 0;
  Augmentation augmentation;
};

/// Everything a trial needs to know about what to train.
struct TrialSpec {
  ModelSpec model;
  Hyperparameters hyper;
  /// True when the seed's parameter names chose the model (the seed's exact CNN).
  bool seed_model = false;
  /// The parameters as applied, flattened (nested choices expanded to plain names),
  /// with defaults filled in; per-block names only for blocks that exist.
  nlohmann::json parameters;
};

/// One accepted parameter, for validation messages, --list-params and the docs.
struct ParamInfo {
  std::string name;                     ///< per-block names are written with N: "convN_channels"
  std::string group;                    ///< "seed model", "model space" or "training"
  std::string type;                     ///< "int", "float", "bool" or "string"
  std::vector<nlohmann::json> choices;  ///< allowed values; empty = a range (or any bool)
  double min = 0;                       ///< range bounds (inclusive) when choices is empty
  double max = 0;
  nlohmann::json default_value;  ///< null when the default comes from another parameter
  std::string default_note;      ///< how the default is derived when default_value is null
  std::string meaning;
  /// "32, 64, 128", "[1e-06, 1]", "true, false" or "\"max\", \"avg\", \"none\""
  std::string accepted() const;
  /// The default as text: the value, or default_note.
  std::string default_text() const;
};

/// The accepted parameters: the seed's names, the model space's, and training's.
const std::vector<ParamInfo>& parameter_table();

/// Model-space blocks: num_blocks ranges over 1..kMaxBlocks.
inline constexpr int kMaxBlocks = 5;

/// Validates `params` (a JSON object in NNI's shape: nested choices are objects
/// with "_name"; missing names take their defaults) and builds the TrialSpec.
/// Without model-space names it is the seed's CNN: Conv(valid)+ReLU,
/// Conv(valid)+ReLU, MaxPool 2, Flatten, Linear+ReLU, Linear(classes). The model takes
/// `input` (the data set's images and classes). Throws ParamError naming the parameter
/// and listing what is accepted, or the block that shrinks the feature map below 1x1.
TrialSpec trial_spec_from_parameters(const nlohmann::json& params, const ModelInput& input = {});

/// Expands nested choices: {"conv2": {"_name": "residual", "channels": 64}} becomes
/// {"conv2_type": "residual", "conv2_channels": 64}; {"optimizer": {"_name": "sgd",
/// "momentum": 0.9}} becomes {"optimizer": "sgd", "momentum": 0.9}. Throws
/// ParamError for a name given twice or a malformed nested value.
nlohmann::json flatten_parameters(const nlohmann::json& params);

/// Merges `overrides` into `base` (both JSON objects); keys of overrides win.
nlohmann::json merge_parameters(nlohmann::json base, const nlohmann::json& overrides);

const char* to_string(Optimizer o);
const char* to_string(Schedule s);

}  // namespace nnilib
