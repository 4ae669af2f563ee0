#include "nnilib/common/trial_budget.h"

#include <algorithm>
#include <cmath>

namespace nnilib {

double trial_budget(const nlohmann::json& parameters) {
  if (!parameters.is_object()) return 0;
  const auto it = parameters.find(kTrialBudgetKey);
  return it != parameters.end() && it->is_number() && std::isfinite(it->get<double>()) &&
                 it->get<double>() > 0
             ? it->get<double>()
             : 0.0;
}

nlohmann::json configuration_of(const nlohmann::json& parameters) {
  nlohmann::json config = parameters;
  if (config.is_object()) config.erase(kTrialBudgetKey);
  return config;
}

int budget_epochs(double budget) {
  // 1e-9: a budget written as 3.0000000001 by a tuner's arithmetic is 3 epochs.
  return static_cast<int>(std::clamp(std::ceil(budget - 1e-9), 1.0, kMaxBudgetEpochs));
}

}  // namespace nnilib
