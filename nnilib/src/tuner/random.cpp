// NNI's Random tuner (random_tuner.py): every parameter drawn from its prior,
// repeats in finite spaces replaced by unused grid points.
#include <limits>

#include "tuner/tuner_detail.h"

namespace nnilib::tuner_detail {

namespace {

class RandomTuner : public Tuner {
 public:
  RandomTuner(const SearchSpace& space, std::uint64_t seed, std::optional<OptimizeMode> mode)
      : space_(space), rng_(seed), dedup_(space_), mode_(mode) {}
  std::string name() const override { return "Random"; }
  std::optional<OptimizeMode> optimize_mode() const override { return mode_; }

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
  std::optional<OptimizeMode> mode_;
  std::set<std::int64_t> generated_;
};

}  // namespace

namespace {

const std::vector<std::string> kRandomArgs{"optimize_mode", "seed"};

std::unique_ptr<Tuner> make_random(const nlohmann::json& args, const SearchSpace& space,
                                   std::uint64_t seed) {
  const ClassArgs a("tuner", "Random", args, kRandomArgs);
  // No effect on random search, but the runner ranks the trials by it.
  std::optional<OptimizeMode> mode;
  if (a.has("optimize_mode")) mode = a.optimize_mode(OptimizeMode::kMaximize);
  const std::int64_t s = a.integer("seed", 0, 0, std::numeric_limits<std::int64_t>::max());
  return std::make_unique<RandomTuner>(space, a.has("seed") ? static_cast<std::uint64_t>(s) : seed,
                                       mode);
}

}  // namespace

TunerEntry random_entry() {
  return {"Random", "NNI's random search: every point drawn afresh, repeats skipped", kRandomArgs,
          make_random};
}

}  // namespace nnilib::tuner_detail
