// NNI's TRIAL_BUDGET: the parameter the multi-fidelity tuners (Hyperband, BOHB, ASHA) add
// to a configuration, and what it means here (epochs of training). One place for the
// vocabulary every layer speaks: the tuners write it, the model reads it, the runner
// groups trials by the configuration without it.
#pragma once

#include <nlohmann/json.hpp>

namespace nnilib {

/// The budget NNI's Hyperband and BOHB (and ASHA) put among a trial's parameters;
/// fmnist-trial trains TRIAL_BUDGET epochs, a fraction of one included (0.333: a third
/// of an epoch's batches).
inline constexpr const char* kTrialBudgetKey = "TRIAL_BUDGET";
/// The largest TRIAL_BUDGET fmnist-trial accepts, in epochs.
inline constexpr double kMaxBudgetEpochs = 1000;

/// TRIAL_BUDGET of `parameters`; 0 when there is none or it is not a positive finite
/// number (not multi-fidelity).
double trial_budget(const nlohmann::json& parameters);

/// `parameters` without TRIAL_BUDGET: what makes trials the same configuration.
nlohmann::json configuration_of(const nlohmann::json& parameters);

/// The epochs a positive budget trains, the last one in part when it is a fraction:
/// ceil(budget), at least 1 (2.5 -> 3).
int budget_epochs(double budget);

}  // namespace nnilib
