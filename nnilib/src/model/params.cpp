#include "nnilib/model/params.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "model/enum_tables.h"
#include "nnilib/common/error.h"
#include "nnilib/common/trial_budget.h"
#include "nnilib/model/block_kind.h"

namespace nnilib {
namespace {

using nlohmann::json;

constexpr const char* kSeedGroup = "seed model";
constexpr const char* kSpaceGroup = "model space";
constexpr const char* kTrainingGroup = "training";

std::string format_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string json_type_name(const json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

// The accepted values of an enum parameter: its name table's names, in the table's order.
template <typename Enum, std::size_t N>
std::vector<json> choices(const EnumName<Enum> (&table)[N]) {
  std::vector<json> out;
  for (const EnumName<Enum>& row : table) out.emplace_back(row.name);
  return out;
}

std::vector<json> numbers(std::initializer_list<int> values) {
  std::vector<json> out;
  for (int v : values) out.emplace_back(v);
  return out;
}

// The block kinds of the registry (block_kind.h).
std::vector<json> block_types() {
  std::vector<json> out;
  for (const BlockKind& k : block_kinds()) out.emplace_back(k.name);
  return out;
}

// "plain = one k x k convolution; residual = ...": the kinds for --list-params.
std::string block_type_help() {
  std::string help = "default block type: ";
  for (const BlockKind& k : block_kinds())
    help += (&k == &block_kinds().front() ? "" : "; ") + k.name + " = " + k.summary;
  return help;
}

const std::vector<json> kBlockTypes = block_types();
const std::vector<json> kActivations = choices(kActivationNames);
const std::vector<json> kPools = choices(kPoolNames);
const std::vector<json> kKernels = numbers({1, 3, 5, 7});

// Per-block fields: "convN_<field>".
bool is_block_field(const std::string& field) {
  static const char* const fields[] = {"type",       "channels",   "kernel",
                                       "batch_norm", "activation", "pool"};
  return std::find(std::begin(fields), std::end(fields), field) != std::end(fields);
}

// "conv3" -> 3, "conv12" -> 12; 0 when `s` is not conv<digits>.
int block_number(const std::string& s) {
  if (s.size() < 5 || s.compare(0, 4, "conv") != 0) return 0;
  int n = 0;
  for (size_t i = 4; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || n > 1000) return 0;
    n = n * 10 + (s[i] - '0');
  }
  return n;
}

struct Resolved {
  const ParamInfo* info = nullptr;
  int block = 0;  ///< 1..kMaxBlocks for per-block names
};

std::string accepted_names() {
  std::string names;
  for (const ParamInfo& p : parameter_table()) names += (names.empty() ? "" : ", ") + p.name;
  return names + ", " + kTrialBudgetKey;
}

// A value as it appears in an error message: its JSON, cut short when long (a
// message is one line, whatever a tuner or a user sent).
// A value in a message: its JSON, or for a long one its start and its length (a
// parameter can be megabytes long).
std::string excerpt(const json& v) {
  std::string text = v.dump();
  if (text.size() <= 60) return text;
  return text.substr(0, 50) + "... (" + std::to_string(text.size()) + " characters)";
}

Resolved resolve(const std::string& name) {
  for (const ParamInfo& p : parameter_table()) {
    if (p.name == name) return {&p, 0};
  }
  const size_t underscore = name.find('_');
  const int block = block_number(name.substr(0, underscore));
  if (block > 0 && underscore != std::string::npos && is_block_field(name.substr(underscore + 1))) {
    if (block > kMaxBlocks) {
      throw ParamError("parameter \"" + name + "\": block " + std::to_string(block) +
                       " does not exist (blocks are conv1 to conv" + std::to_string(kMaxBlocks) +
                       ")");
    }
    const std::string generic = "convN" + name.substr(underscore);
    for (const ParamInfo& p : parameter_table()) {
      if (p.name == generic) return {&p, block};
    }
  }
  throw ParamError("unknown parameter " + excerpt(json(name)) + " (accepted: " + accepted_names() +
                   ")");
}

// Checks one value against its definition; returns it normalized (integral floats
// of int parameters become integers: TPE over quniform sends 64.0).
json check_value(const std::string& name, const ParamInfo& p, const json& v) {
  const std::string what = "parameter \"" + name + "\"";
  if (p.type == "bool") {
    if (!v.is_boolean()) {
      throw ParamError(what + " must be true or false, got " + excerpt(v) + " (" +
                       json_type_name(v) + ")");
    }
    return v;
  }
  if (p.type == "string") {
    if (!v.is_string() || std::find(p.choices.begin(), p.choices.end(), v) == p.choices.end()) {
      throw ParamError(what + " = " + excerpt(v) + " is not one of " + p.accepted());
    }
    return v;
  }
  if (!v.is_number() || v.is_boolean()) {
    throw ParamError(what + " must be " + (p.type == "int" ? "an integer" : "a number") + ", got " +
                     excerpt(v) + " (" + json_type_name(v) + "); accepted: " + p.accepted());
  }
  const double x = v.get<double>();
  if (!std::isfinite(x)) throw ParamError(what + " must be finite; accepted: " + p.accepted());
  if (p.type == "int" && x != std::floor(x)) {
    throw ParamError(what + " must be an integer, got " + excerpt(v) +
                     "; accepted: " + p.accepted());
  }
  if (!p.choices.empty()) {
    const bool found = std::any_of(p.choices.begin(), p.choices.end(),
                                   [x](const json& c) { return c.get<double>() == x; });
    if (!found) throw ParamError(what + " = " + excerpt(v) + " is not one of " + p.accepted());
  } else if (x < p.min || x > p.max) {
    throw ParamError(what + " = " + excerpt(v) + " is out of range " + p.accepted());
  }
  return p.type == "int" ? json(static_cast<int64_t>(x)) : json(x);
}

// The flattened parameters and where each came from, for "given twice" messages.
struct Flattened {
  json values = json::object();
  std::map<std::string, std::string> origin;
};

void put(Flattened& out, const std::string& name, const json& value, const std::string& origin) {
  if (out.values.contains(name)) {
    throw ParamError("parameter \"" + name + "\" is given twice (" + out.origin[name] + " and " +
                     origin + "); give each name once");
  }
  out.values[name] = value;
  out.origin[name] = origin;
}

void flatten_into(Flattened& out, const json& object, const std::string& scope,
                  const std::string& origin) {
  for (const auto& [key, value] : object.items()) {
    const std::string name = scope + key;
    if (!value.is_object()) {
      put(out, name, value, origin);
      continue;
    }
    if (!value.contains("_name") || !value["_name"].is_string()) {
      throw ParamError("parameter \"" + name + "\" is an object without a string \"_name\" " +
                       "(a nested choice's option is {\"_name\": ..., sub-parameters})");
    }
    // conv2: {"_name": "residual", "channels": 64} -> conv2_type, conv2_channels.
    const bool whole_block = block_number(name) > 0;
    const size_t underscore = name.find('_');
    const bool block_field =
        underscore != std::string::npos && block_number(name.substr(0, underscore)) > 0;
    const std::string inner_scope = whole_block   ? name + "_"
                                    : block_field ? name.substr(0, underscore + 1)
                                                  : scope;
    put(out, whole_block ? name + "_type" : name, value["_name"], origin);
    json inner = value;
    inner.erase("_name");
    flatten_into(out, inner, inner_scope, "in nested choice \"" + name + "\"");
  }
}

// A value the parameter table has already checked against the same names.
template <typename Enum, std::size_t N>
Enum parse_enum(const json& v, const EnumName<Enum> (&table)[N]) {
  if (v.is_string()) {
    if (const std::optional<Enum> value = value_of(table, v.get<std::string>())) return *value;
  }
  throw std::logic_error("unchecked enum value " + v.dump());
}

Activation activation_of(const json& v) { return parse_enum(v, kActivationNames); }

Pool pool_of(const json& v) { return parse_enum(v, kPoolNames); }

// Default channels of block N: 32, 64, 128, 256, 256.
int default_channels(int block) { return std::min(256, 32 << (block - 1)); }

}  // namespace

std::string ParamInfo::accepted() const {
  if (type == "bool") return "true, false";
  std::string s;
  if (!choices.empty()) {
    for (const json& c : choices) {
      s += (s.empty() ? "" : ", ") + (c.is_string() ? c.dump() : format_number(c.get<double>()));
    }
    return s;
  }
  return "[" + format_number(min) + ", " + format_number(max) + "]";
}

std::string ParamInfo::default_text() const {
  return default_value.is_null() ? default_note : default_value.dump();
}

namespace {

// The seed's names: they build exactly the seed's Keras CNN.
std::vector<ParamInfo> seed_parameters() {
  return {
      {"filter_size_c1", kSeedGroup, "int", numbers({32, 64, 128}), 0, 0, 64, "",
       "output channels of convolution 1"},
      {"filter_size_c2", kSeedGroup, "int", numbers({32, 64, 128}), 0, 0, 64, "",
       "output channels of convolution 2"},
      {"kernel_size_c1", kSeedGroup, "int", numbers({3, 5}), 0, 0, 3, "",
       "kernel size of convolution 1 (valid padding)"},
      {"kernel_size_c2", kSeedGroup, "int", numbers({3, 5}), 0, 0, 3, "",
       "kernel size of convolution 2 (valid padding)"},
      {"nb_units", kSeedGroup, "int", numbers({80, 100, 120}), 0, 0, 100, "",
       "units of the hidden dense layer"},
  };
}

// The model space: blocks (defaults for all, convN_* for block N) and the head.
std::vector<ParamInfo> space_parameters() {
  return {
      {"num_blocks", kSpaceGroup, "int", {}, 1, kMaxBlocks, 3, "", "convolution blocks"},
      {"block_type", kSpaceGroup, "string", kBlockTypes, 0, 0, "plain", "", block_type_help()},
      {"kernel_size", kSpaceGroup, "int", kKernels, 0, 0, 3, "",
       "default kernel size (\"same\" padding)"},
      {"batch_norm",
       kSpaceGroup,
       "bool",
       {},
       0,
       0,
       true,
       "",
       "default: batch norm after each convolution"},
      {"activation", kSpaceGroup, "string", kActivations, 0, 0, "relu", "",
       "activation of the blocks (default) and of the hidden layer"},
      {"pool", kSpaceGroup, "string", kPools, 0, 0, "max", "",
       "default pooling (2x2) at the end of each block"},
      {"convN_type", kSpaceGroup, "string", kBlockTypes, 0, 0, nullptr, "block_type",
       "type of block N (N = 1..5)"},
      {"convN_channels",
       kSpaceGroup,
       "int",
       {},
       4,
       512,
       nullptr,
       "32, 64, 128, 256, 256",
       "output channels of block N"},
      {"convN_kernel", kSpaceGroup, "int", kKernels, 0, 0, nullptr, "kernel_size",
       "kernel size of block N"},
      {"convN_batch_norm",
       kSpaceGroup,
       "bool",
       {},
       0,
       0,
       nullptr,
       "batch_norm",
       "batch norm in block N"},
      {"convN_activation", kSpaceGroup, "string", kActivations, 0, 0, nullptr, "activation",
       "activation of block N"},
      {"convN_pool", kSpaceGroup, "string", kPools, 0, 0, nullptr, "pool",
       "pooling at the end of block N"},
      {"head", kSpaceGroup, "string", choices(kHeadNames), 0, 0, "gap", "",
       "global average pooling or flatten before the classifier"},
      {"hidden_units",
       kSpaceGroup,
       "int",
       {},
       0,
       4096,
       0,
       "",
       "units of a hidden Linear layer in the head (0 = none)"},
      {"dropout",
       kSpaceGroup,
       "float",
       {},
       0,
       0.9,
       0,
       "",
       "dropout probability before the last Linear layer"},
  };
}

// Training, for both models.
std::vector<ParamInfo> training_parameters() {
  return {
      {"optimizer", kTrainingGroup, "string", choices(kOptimizerNames), 0, 0, "adam", "",
       "Adam, AdamW (decoupled weight decay) or SGD with Nesterov momentum"},
      {"learning_rate",
       kTrainingGroup,
       "float",
       {},
       1e-6,
       1.0,
       0.001,
       "",
       "learning rate (the peak rate under a schedule)"},
      {"weight_decay",
       kTrainingGroup,
       "float",
       {},
       0,
       1,
       0,
       "",
       "weight decay (L2 for adam and sgd, decoupled for adamw)"},
      {"momentum",
       kTrainingGroup,
       "float",
       {},
       0,
       0.999,
       0.9,
       "",
       "Nesterov momentum (sgd only; ignored otherwise)"},
      {"batch_size", kTrainingGroup, "int", {}, 1, 4096, 64, "", "training mini-batch size"},
      {"epochs",
       kTrainingGroup,
       "int",
       {},
       1,
       1000,
       10,
       "",
       "training epochs (TRIAL_BUDGET overrides)"},
      {"schedule", kTrainingGroup, "string", choices(kScheduleNames), 0, 0, "constant", "",
       "learning-rate schedule, stepped every batch"},
      {"label_smoothing",
       kTrainingGroup,
       "float",
       {},
       0,
       0.5,
       0,
       "",
       "label smoothing of the cross-entropy loss"},
      {"augment_crop",
       kTrainingGroup,
       "int",
       {},
       0,
       8,
       0,
       "",
       "random crop after padding by this many pixels (0 = off)"},
      {"augment_flip", kTrainingGroup, "bool", {}, 0, 0, false, "", "random horizontal flip"},
      {"augment_erasing",
       kTrainingGroup,
       "float",
       {},
       0,
       1,
       0,
       "",
       "probability of random erasing of a rectangle"},
  };
}

}  // namespace

const std::vector<ParamInfo>& parameter_table() {
  static const std::vector<ParamInfo> table = [] {
    std::vector<ParamInfo> all = seed_parameters();
    for (auto part : {space_parameters(), training_parameters()})
      all.insert(all.end(), part.begin(), part.end());
    return all;
  }();
  return table;
}

const char* to_string(Optimizer o) { return name_of(kOptimizerNames, o); }

const char* to_string(Schedule s) { return name_of(kScheduleNames, s); }

json merge_parameters(json base, const json& overrides) {
  if (base.is_null()) base = json::object();
  for (const auto& [key, value] : overrides.items()) base[key] = value;
  return base;
}

json flatten_parameters(const json& params) {
  Flattened out;
  flatten_into(out, params, "", "at the top level");
  return std::move(out.values);
}

namespace {

// The validated parameters a trial was given, and those it applies (given or
// defaulted), read by name.
class AppliedParameters {
 public:
  explicit AppliedParameters(std::map<std::string, json> given) : given_(std::move(given)) {}

  // The given value of `name`, else `fallback`; recorded as applied.
  json value(const std::string& name, const json& fallback) {
    auto it = given_.find(name);
    const json v = it != given_.end() ? it->second : fallback;
    applied_[name] = v;
    return v;
  }
  // The given value of `name`, else its default from the parameter table.
  json table_default(const std::string& name) {
    for (const ParamInfo& p : parameter_table()) {
      if (p.name == name) return value(name, p.default_value);
    }
    throw std::logic_error("no parameter " + name);
  }
  json& applied() { return applied_; }

 private:
  std::map<std::string, json> given_;
  json applied_ = json::object();
};

// The seed's two-convolution CNN.
ModelSpec seed_model(AppliedParameters& a) {
  ConvBlockSpec c1;
  c1.out_channels = a.table_default("filter_size_c1").get<int>();
  c1.kernel_size = a.table_default("kernel_size_c1").get<int>();
  ConvBlockSpec c2;
  c2.out_channels = a.table_default("filter_size_c2").get<int>();
  c2.kernel_size = a.table_default("kernel_size_c2").get<int>();
  c2.pool = Pool::kMax;
  c2.pool_size = 2;
  ModelSpec model;
  model.blocks = {c1, c2};
  model.head = Head::kFlatten;
  model.hidden_units = a.table_default("nb_units").get<int>();
  return model;
}

// A point of the model space: num_blocks blocks (each block's convN_* over the
// defaults for all), then the head.
ModelSpec space_model(AppliedParameters& a) {
  const int num_blocks = a.table_default("num_blocks").get<int>();
  const json block_type = a.table_default("block_type");
  const json kernel = a.table_default("kernel_size");
  const json batch_norm = a.table_default("batch_norm");
  const json activation = a.table_default("activation");
  const json pool = a.table_default("pool");
  ModelSpec model;
  for (int n = 1; n <= num_blocks; ++n) {
    const std::string prefix = "conv" + std::to_string(n) + "_";
    ConvBlockSpec b;
    b.kind = a.value(prefix + "type", block_type).get<std::string>();
    b.out_channels = a.value(prefix + "channels", default_channels(n)).get<int>();
    b.kernel_size = a.value(prefix + "kernel", kernel).get<int>();
    b.padding = b.kernel_size / 2;
    b.batch_norm = a.value(prefix + "batch_norm", batch_norm).get<bool>();
    b.activation = activation_of(a.value(prefix + "activation", activation));
    b.pool = pool_of(a.value(prefix + "pool", pool));
    b.pool_size = 2;
    model.blocks.push_back(b);
  }
  model.head = parse_enum(a.table_default("head"), kHeadNames);
  model.hidden_units = a.table_default("hidden_units").get<int>();
  model.hidden_activation = activation_of(activation);
  model.dropout = a.table_default("dropout").get<double>();
  return model;
}

Hyperparameters training_of(AppliedParameters& a) {
  Hyperparameters h;
  h.optimizer = parse_enum(a.table_default("optimizer"), kOptimizerNames);
  h.learning_rate = a.table_default("learning_rate").get<double>();
  h.weight_decay = a.table_default("weight_decay").get<double>();
  h.momentum = a.table_default("momentum").get<double>();
  h.batch_size = a.table_default("batch_size").get<int>();
  h.epochs = a.table_default("epochs").get<int>();
  h.schedule = parse_enum(a.table_default("schedule"), kScheduleNames);
  h.label_smoothing = a.table_default("label_smoothing").get<double>();
  h.augmentation.crop_padding = a.table_default("augment_crop").get<int>();
  h.augmentation.flip = a.table_default("augment_flip").get<bool>();
  h.augmentation.erasing = a.table_default("augment_erasing").get<double>();
  return h;
}

// NNI's TRIAL_BUDGET (multi-fidelity tuners) overrides the epochs: budget epochs, a
// fraction of one included (budget_epochs: ceil(budget)).
void apply_budget(const json& budget, Hyperparameters& h, json& applied) {
  if (!budget.is_number() || !std::isfinite(budget.get<double>()) || budget.get<double>() <= 0 ||
      budget.get<double>() > kMaxBudgetEpochs) {
    throw ParamError(std::string("parameter \"") + kTrialBudgetKey +
                     "\" must be a positive number of epochs up to " +
                     std::to_string(static_cast<int>(kMaxBudgetEpochs)) + ", got " +
                     excerpt(budget));
  }
  h.epochs = budget_epochs(budget.get<double>());
  // A fraction of an epoch trains part of the last one's batches; a whole number, all.
  h.budget_epochs = std::abs(budget.get<double>() - h.epochs) < 1e-9 ? 0.0 : budget.get<double>();
  applied["epochs"] = h.epochs;
  applied[kTrialBudgetKey] = budget;
}

}  // namespace

TrialSpec trial_spec_from_parameters(const json& params, const ModelInput& input) {
  if (!params.is_object()) {
    throw ParamError("parameters must be a JSON object, got " + json_type_name(params) +
                     "; accepted names: " + accepted_names());
  }
  const json flat = flatten_parameters(params);
  // Validate every given name; remember which model family they ask for.
  std::map<std::string, json> given;
  std::string seed_name, space_name;
  for (const auto& [name, value] : flat.items()) {
    if (name == kTrialBudgetKey) continue;
    const Resolved r = resolve(name);
    given[name] = check_value(name, *r.info, value);
    if (r.info->group == kSeedGroup && seed_name.empty()) seed_name = name;
    if (r.info->group == kSpaceGroup && space_name.empty()) space_name = name;
  }
  if (!seed_name.empty() && !space_name.empty()) {
    throw ParamError("parameter \"" + seed_name +
                     "\" (the seed's model) cannot be combined with \"" + space_name +
                     "\" (the model space); use the names of one model");
  }
  AppliedParameters applied(std::move(given));
  TrialSpec spec;
  spec.seed_model = space_name.empty();
  spec.model = spec.seed_model ? seed_model(applied) : space_model(applied);
  spec.model.in_channels = input.channels;
  spec.model.in_height = input.height;
  spec.model.in_width = input.width;
  spec.model.num_classes = input.classes;
  spec.hyper = training_of(applied);
  if (flat.contains(kTrialBudgetKey))
    apply_budget(flat[kTrialBudgetKey], spec.hyper, applied.applied());
  spec.parameters = std::move(applied.applied());
  estimate_cost(spec.model);  // a feature map shrinking below 1x1 is an error here, not in LibTorch
  return spec;
}

}  // namespace nnilib
