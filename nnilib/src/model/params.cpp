#include "nnilib/params.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "nnilib/error.h"

namespace nnilib {
namespace {

std::string format_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string json_type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

const ParamInfo* find_param(const std::string& name) {
  for (const ParamInfo& p : parameter_table()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string accepted_names() {
  std::string names;
  for (const ParamInfo& p : parameter_table()) {
    names += (names.empty() ? "" : ", ") + p.name;
  }
  return names + ", " + kTrialBudgetKey;
}

// Checks one value against its definition and returns it as a double.
double check_value(const ParamInfo& p, const nlohmann::json& v) {
  const std::string what = "parameter \"" + p.name + "\"";
  if (!v.is_number() || v.is_boolean()) {
    throw ParamError(what + " must be " + (p.type == "int" ? "an integer" : "a number") + ", got " +
                     v.dump() + " (" + json_type_name(v) + "); accepted: " + p.accepted());
  }
  const double x = v.get<double>();
  if (!std::isfinite(x)) throw ParamError(what + " must be finite; accepted: " + p.accepted());
  // Tuners such as TPE over quniform send integral floats (64.0): accept those.
  if (p.type == "int" && x != std::floor(x)) {
    throw ParamError(what + " must be an integer, got " + v.dump() + "; accepted: " + p.accepted());
  }
  if (!p.choices.empty()) {
    if (std::find(p.choices.begin(), p.choices.end(), x) == p.choices.end()) {
      throw ParamError(what + " = " + v.dump() + " is not one of " + p.accepted());
    }
  } else if (x < p.min || x > p.max) {
    throw ParamError(what + " = " + v.dump() + " is out of range " + p.accepted());
  }
  return x;
}

}  // namespace

std::string ParamInfo::accepted() const {
  std::string s;
  if (!choices.empty()) {
    for (double c : choices) s += (s.empty() ? "" : ", ") + format_number(c);
    return s;
  }
  return "[" + format_number(min) + ", " + format_number(max) + "]";
}

const std::vector<ParamInfo>& parameter_table() {
  static const std::vector<ParamInfo> table = {
      {"filter_size_c1", "int", {32, 64, 128}, 0, 0, 64, "output channels of convolution 1"},
      {"filter_size_c2", "int", {32, 64, 128}, 0, 0, 64, "output channels of convolution 2"},
      {"kernel_size_c1", "int", {3, 5}, 0, 0, 3, "kernel size of convolution 1 (valid padding)"},
      {"kernel_size_c2", "int", {3, 5}, 0, 0, 3, "kernel size of convolution 2 (valid padding)"},
      {"nb_units", "int", {80, 100, 120}, 0, 0, 100, "units of the hidden dense layer"},
      {"learning_rate", "float", {}, 1e-6, 1.0, 0.001, "Adam learning rate"},
      {"batch_size", "int", {}, 1, 4096, 64, "training mini-batch size"},
      {"epochs", "int", {}, 1, 1000, 10, "training epochs (TRIAL_BUDGET overrides)"},
  };
  return table;
}

nlohmann::json merge_parameters(nlohmann::json base, const nlohmann::json& overrides) {
  if (base.is_null()) base = nlohmann::json::object();
  for (const auto& [key, value] : overrides.items()) base[key] = value;
  return base;
}

TrialSpec trial_spec_from_parameters(const nlohmann::json& params) {
  if (!params.is_object()) {
    throw ParamError("parameters must be a JSON object, got " + json_type_name(params) +
                     "; accepted names: " + accepted_names());
  }
  nlohmann::json applied = nlohmann::json::object();
  for (const ParamInfo& p : parameter_table()) applied[p.name] = p.default_value;
  for (const auto& [name, value] : params.items()) {
    if (name == kTrialBudgetKey) continue;
    const ParamInfo* p = find_param(name);
    if (p == nullptr) {
      throw ParamError("unknown parameter \"" + name + "\" (accepted: " + accepted_names() + ")");
    }
    const double x = check_value(*p, value);
    applied[name] = p->type == "int" ? nlohmann::json(static_cast<int64_t>(x)) : nlohmann::json(x);
  }
  if (params.contains(kTrialBudgetKey)) {
    const nlohmann::json& budget = params[kTrialBudgetKey];
    if (!budget.is_number() || !std::isfinite(budget.get<double>()) || budget.get<double>() <= 0) {
      throw ParamError(std::string("parameter \"") + kTrialBudgetKey +
                       "\" must be a positive number, got " + budget.dump());
    }
    const double epochs = std::ceil(budget.get<double>() - 1e-9);
    applied["epochs"] = static_cast<int64_t>(std::clamp(epochs, 1.0, 1000.0));
    applied[kTrialBudgetKey] = budget;
  }

  TrialSpec spec;
  ConvBlockSpec c1;
  c1.out_channels = applied["filter_size_c1"].get<int>();
  c1.kernel_size = applied["kernel_size_c1"].get<int>();
  ConvBlockSpec c2;
  c2.out_channels = applied["filter_size_c2"].get<int>();
  c2.kernel_size = applied["kernel_size_c2"].get<int>();
  c2.pool = Pool::kMax;
  c2.pool_size = 2;
  spec.model.blocks = {c1, c2};
  spec.model.hidden_units = applied["nb_units"].get<int>();
  spec.hyper.learning_rate = applied["learning_rate"].get<double>();
  spec.hyper.batch_size = applied["batch_size"].get<int>();
  spec.hyper.epochs = applied["epochs"].get<int>();
  spec.parameters = std::move(applied);
  estimate_cost(spec.model);  // every choice fits 28x28, but keep the check in one place
  return spec;
}

}  // namespace nnilib
