// NNI's Random tuner (random_tuner.py): every parameter drawn from its prior,
// repeats in finite spaces replaced by unused grid points.
#include <limits>

#include "tuner/tuner_detail.h"

namespace nnilib::tuner_detail {

namespace {

class RandomTuner : public Tuner {
 public:
  RandomTuner(const SearchSpace& space, std::uint64_t seed)
      : space_(space), rng_(seed), dedup_(space_) {}
  std::string name() const override { return "Random"; }

  std::optional<nlohmann::json> generate_parameters(std::int64_t parameter_id) override {
    const auto point = dedup_(space_.sample_point(rng_));
    if (!point) return std::nullopt;
    generated_.insert(parameter_id);
    return space_.to_parameters(point->first);
  }

  void receive_trial_result(std::int64_t parameter_id, const nlohmann::json& parameters,
                            double /*value*/) override {
    if (generated_.count(parameter_id)) return;
    dedup_.add_history(space_.to_parameters(space_.from_parameters(parameters)));
  }

 private:
  SearchSpace space_;
  SpaceRng rng_;
  Deduplicator dedup_;
  std::set<std::int64_t> generated_;
};

}  // namespace

std::unique_ptr<Tuner> make_random(const nlohmann::json& args, const SearchSpace& space,
                                   std::uint64_t seed) {
  const ClassArgs a("tuner", "Random", args, {"optimize_mode", "seed"});
  a.optimize_mode(OptimizeMode::kMaximize);  // checked, no effect on random search
  const std::int64_t s = a.integer("seed", 0, 0, std::numeric_limits<std::int64_t>::max());
  return std::make_unique<RandomTuner>(space, a.has("seed") ? static_cast<std::uint64_t>(s) : seed);
}

}  // namespace nnilib::tuner_detail
