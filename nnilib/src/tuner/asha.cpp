// Asynchronous successive halving (ASHA; Li et al., "A System for Massively Parallel
// Hyperparameter Tuning", MLSys 2020), this project's own multi-fidelity tuner, with
// promotion from a checkpoint: a configuration promoted from budget b to eta*b
// continues its saved run (the runner points the new trial at the old trial's
// checkpoint) instead of training again from scratch as NNI's Hyperband does, and no
// worker waits for a rung to fill.
//
// Rungs k = 0..K hold budgets R / eta^(K-k) (K = floor(log_eta(R / min_budget))), so the
// top rung trains for R. A free worker gets, from the highest rung down, the first
// configuration in the top 1/eta of its rung that was not promoted yet; when there is
// none, a new random configuration at rung 0. The budget reaches the trial as NNI's
// TRIAL_BUDGET parameter (fmnist-trial: epochs = ceil(TRIAL_BUDGET)).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "nnilib/common/trial_budget.h"
#include "tuner/halving_bracket.h"
#include "tuner/tuner_detail.h"

namespace nnilib::tuner_detail {

namespace {

class AshaTuner : public Tuner {
 public:
  AshaTuner(const SearchSpace& space, std::uint64_t seed, OptimizeMode mode, double max_budget,
            double eta, double min_budget)
      : space_(space),
        rng_(seed),
        dedup_(space_),
        mode_(mode),
        max_budget_(max_budget),
        budgets_(asha_budgets(max_budget, eta, min_budget)),
        eta_(eta) {
    rungs_.resize(budgets_.size());
    promoted_.resize(budgets_.size());
  }

  std::string name() const override { return "ASHA"; }
  std::optional<OptimizeMode> optimize_mode() const override { return mode_; }
  double continued_budget() const override { return max_budget_; }

  std::optional<nlohmann::json> generate_parameters(std::int64_t parameter_id) override {
    for (std::size_t k = budgets_.size() - 1; k-- > 0;) {
      std::vector<const Entry*> ranked;
      for (const Entry& e : rungs_[k]) ranked.push_back(&e);
      std::stable_sort(ranked.begin(), ranked.end(), [this](const Entry* a, const Entry* b) {
        return ranks_before(mode_, a->value, b->value);
      });
      const auto top =
          static_cast<std::size_t>(std::floor(static_cast<double>(ranked.size()) / eta_));
      for (std::size_t i = 0; i < top; ++i) {
        if (promoted_[k].insert(ranked[i]->key).second) {
          pending_[parameter_id] = {ranked[i]->key, k + 1};
          return with_budget(configs_.at(ranked[i]->key), k + 1);
        }
      }
    }
    const auto point = dedup_(space_.sample_point(rng_));
    if (!point) return std::nullopt;
    const nlohmann::json params = space_.to_parameters(point->first);
    const std::string key = canonical(params);
    configs_.emplace(key, params);
    pending_[parameter_id] = {key, 0};
    return with_budget(params, 0);
  }

  void receive_trial_result(std::int64_t parameter_id, const nlohmann::json& parameters,
                            double value) override {
    if (!std::isfinite(value)) return;  // a failed trial is never promoted
    const auto it = pending_.find(parameter_id);
    if (it != pending_.end()) {
      rungs_[it->second.second].push_back({it->second.first, value});
      return;
    }
    // A result from elsewhere (a resumed experiment): its rung from its budget.
    const double budget = trial_budget(parameters);
    if (budget <= 0) return;
    std::size_t rung = 0;
    while (rung + 1 < budgets_.size() && budgets_[rung] < budget - 1e-9) ++rung;
    const nlohmann::json config = configuration_of(parameters);
    const std::string key = canonical(config);
    configs_.emplace(key, config);
    dedup_.add_history(config);
    rungs_[rung].push_back({key, value});
    for (std::size_t k = 0; k < rung; ++k) promoted_[k].insert(key);
  }

  void trial_end(std::int64_t parameter_id, bool /*succeeded*/) override {
    pending_.erase(parameter_id);
  }

 private:
  struct Entry {
    std::string key;
    double value;
  };

  nlohmann::json with_budget(nlohmann::json params, std::size_t rung) const {
    params[kTrialBudgetKey] = budgets_[rung];
    return params;
  }

  SearchSpace space_;
  SpaceRng rng_;
  Deduplicator dedup_;
  OptimizeMode mode_;
  double max_budget_;
  std::vector<double> budgets_;
  double eta_;
  std::vector<std::vector<Entry>> rungs_;          // results per rung
  std::vector<std::set<std::string>> promoted_;    // configurations promoted out of rung k
  std::map<std::string, nlohmann::json> configs_;  // canonical text -> parameters
  std::map<std::int64_t, std::pair<std::string, std::size_t>> pending_;  // id -> (config, rung)
};

}  // namespace

std::vector<double> asha_budgets(double max_budget, double eta, double min_budget) {
  const int top =
      static_cast<int>(std::floor(std::log(max_budget / min_budget) / std::log(eta) + 1e-9));
  std::vector<double> budgets;
  for (int k = 0; k <= top; ++k) budgets.push_back(max_budget / std::pow(eta, top - k));
  return budgets;
}

namespace {

const std::vector<std::string> kAshaArgs{"optimize_mode", "R", "eta", "min_budget", "seed"};

std::unique_ptr<Tuner> make_asha(const nlohmann::json& args, const SearchSpace& space,
                                 std::uint64_t seed) {
  const ClassArgs a("tuner", "ASHA", args, kAshaArgs);
  const OptimizeMode mode = a.optimize_mode(OptimizeMode::kMaximize);
  const double max_budget = a.number("R", 27, 0, false);
  const double eta = a.number("eta", 3, 1, false);
  const double min_budget = a.number("min_budget", 1, 0, false);
  if (min_budget > max_budget)
    a.fail("min_budget", "must be at most R (" + nlohmann::json(max_budget).dump() + ")");
  if (max_budget > 10000) a.fail("R", "must be at most 10000 (epochs)");
  const std::int64_t s = a.integer("seed", 0, 0, std::numeric_limits<std::int64_t>::max());
  return std::make_unique<AshaTuner>(space, a.has("seed") ? static_cast<std::uint64_t>(s) : seed,
                                     mode, max_budget, eta, min_budget);
}

}  // namespace

TunerEntry asha_entry() {
  return {"ASHA",
          "this project's asynchronous successive halving; promoted trials continue from "
          "their checkpoint (Li et al. 2020)",
          kAshaArgs, make_asha};
}

}  // namespace nnilib::tuner_detail
