// NNI's Evolution tuner (evolution_tuner.py, "naive evolution" after Real et
// al. 2017): a random initial population; then binary tournaments - the worse
// of two random individuals leaves the population, a copy of the better one
// with one parameter resampled is the next trial.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "tuner/tuner_detail.h"

namespace nnilib::tuner_detail {

namespace {

struct Individual {
  Point config;
  std::optional<double> result;  // the fitness (larger is better); none until evaluated
};

class EvolutionTuner : public Tuner {
 public:
  EvolutionTuner(const SearchSpace& space, OptimizeMode mode, std::size_t population_size,
                 std::uint64_t seed)
      : space_(space), mode_(mode), rng_(seed) {
    for (std::size_t i = 0; i < population_size; ++i) random_individual();
  }
  std::string name() const override { return "Evolution"; }
  std::optional<OptimizeMode> optimize_mode() const override { return mode_; }

  std::optional<nlohmann::json> generate_parameters(std::int64_t parameter_id) override {
    Point config;
    auto fresh = std::find_if(population_.begin(), population_.end(),
                              [](const Individual& i) { return !i.result; });
    if (fresh != population_.end()) {
      // First generation (and replacements of failed trials): untested individuals.
      config = std::move(fresh->config);
      population_.erase(fresh);
    } else if (population_.empty()) {
      // Every individual is out being evaluated (trialConcurrency > population_size).
      // NNI postpones the request; a runner here cannot wait, so it gets a random point.
      config = space_.sample_point(rng_);
    } else {
      // Binary tournament on a shuffled population: the loser is dropped, the
      // winner stays and a mutated copy of it becomes the new trial.
      for (std::size_t i = population_.size(); i > 1; --i)
        std::swap(population_[i - 1], population_[rng_.below(i)]);
      if (population_.size() > 1 && *population_[0].result < *population_[1].result)
        population_[0] = population_[1];
      config = population_[0].config;
      std::vector<std::size_t> active;
      for (std::size_t d = 0; d < config.size(); ++d)
        if (config[d]) active.push_back(d);
      if (!active.empty()) space_.sample_into(active[rng_.below(active.size())], rng_, config);
      if (population_.size() > 1) population_.erase(population_.begin() + 1);
    }
    nlohmann::json params = space_.to_parameters(config);
    running_[parameter_id] = std::move(config);
    return params;
  }

  void receive_trial_result(std::int64_t parameter_id, const nlohmann::json& parameters,
                            double value) override {
    if (!std::isfinite(value)) return trial_end(parameter_id, false);
    Point config;
    if (auto it = running_.find(parameter_id); it != running_.end()) {
      config = std::move(it->second);
      running_.erase(it);
    } else {  // imported or from elsewhere: joins the population as it is
      config = space_.from_parameters(parameters);
    }
    const double fitness = mode_ == OptimizeMode::kMinimize ? -value : value;
    population_.push_back({std::move(config), fitness});
  }

  void trial_end(std::int64_t parameter_id, bool succeeded) override {
    // A trial that failed leaves a gap: a new random individual fills it.
    if (!succeeded && running_.erase(parameter_id) > 0) random_individual();
  }

 private:
  void random_individual() { population_.push_back({space_.sample_point(rng_), std::nullopt}); }

  SearchSpace space_;
  OptimizeMode mode_;
  SpaceRng rng_;
  std::vector<Individual> population_;
  std::map<std::int64_t, Point> running_;
};

}  // namespace

namespace {

const std::vector<std::string> kEvolutionArgs{"optimize_mode", "population_size"};

std::unique_ptr<Tuner> make_evolution(const nlohmann::json& args, const SearchSpace& space,
                                      std::uint64_t seed) {
  const ClassArgs a("tuner", "Evolution", args, kEvolutionArgs);
  const OptimizeMode mode = a.optimize_mode(OptimizeMode::kMaximize);
  const auto size = static_cast<std::size_t>(a.integer("population_size", 32, 1, 99999));
  return std::make_unique<EvolutionTuner>(space, mode, size, seed);
}

}  // namespace

TunerEntry evolution_entry() {
  return {"Evolution",
          "NNI's naive evolution: a population, mutations of its best (Real et al. 2017)",
          kEvolutionArgs, make_evolution};
}

}  // namespace nnilib::tuner_detail
