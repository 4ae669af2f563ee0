// fuzz_params: trial parameters (nnilib/params.h). The input is the text of
// fmnist-trial's --params: checked and parsed the way fmnist-trial does it (nesting
// depth, then nlohmann::json), merged, turned into a TrialSpec, then costed and
// described as `fmnist-trial --dry-run` does before any training.
// Documented failure: ParamError (and nlohmann's parse_error / out_of_range for text
// that is not JSON, which fmnist-trial maps to ParamError). Anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/model/model_spec.h"
#include "nnilib/model/params.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // fmnist-trial's parse_params_text(): refuse deep nesting, then parse.
  if (!nnilib::json_depth_problem(text).empty()) return 0;
  nlohmann::json params;
  try {
    params = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error&) {
    return 0;
  } catch (const nlohmann::json::out_of_range&) {
    return 0;  // a number beyond a double (1e309)
  }
  if (!params.is_object()) return 0;

  try {
    const nlohmann::json merged = nnilib::merge_parameters(nlohmann::json::object(), params);
    const nnilib::TrialSpec spec = nnilib::trial_spec_from_parameters(merged);
    (void)spec.parameters.dump();
    (void)nnilib::describe(spec.model);
    const nnilib::CostEstimate cost = nnilib::estimate_cost(spec.model);
    (void)nnilib::estimate_training_memory(cost, spec.hyper.batch_size, 1000);
    // The applied parameters are valid parameters: they must give the same spec.
    (void)nnilib::trial_spec_from_parameters(spec.parameters);
  } catch (const nnilib::ParamError&) {
  }
  return 0;
}
