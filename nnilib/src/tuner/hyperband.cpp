// NNI 3.0's Hyperband advisor (hyperband_advisor.py; Li et al., JMLR 2018), with its
// arithmetic, its parameter ids and both execution modes.
//
// s_max = floor(log_eta(R)). Bracket s (from s_max down to 0, then again, forever)
// starts n = ceil((s_max + 1) eta^s / (s + 1)) random configurations at r = R / eta^s;
// its round i runs floor(n / eta^i) configurations for floor(r eta^i) (TRIAL_BUDGET).
// When every trial of a round has ended, the best floor(n / eta^(i+1)) of those with a
// result go on to the next round. NNI trains each round's trials from scratch; here a
// promoted trial continues the checkpoint of the round before (continued_budget: the
// runner asks every trial for a checkpoint and a schedule over R epochs), so no epoch is
// trained twice.
// Parameter ids, as NNI sends them: "<hyperband round>-<s>_<i>_<n>", n a counter that
// a configuration keeps from round to round ("0-3_0_7", then "0-3_1_7").
// exec_mode parallelism: a new bracket starts whenever no configuration is waiting to
// run; serial: only once the current bracket has started its last round.
//
// Differences from NNI: a round's ranking uses final results only (NNI falls back to
// the last intermediate result of a trial that sent no final one), and a round in
// which fewer trials than needed have a result promotes those it has (NNI raises an
// IndexError). Results from a resumed experiment are ignored, as in NNI.
#include <cmath>
#include <deque>
#include <map>

#include "nnilib/common/trial_budget.h"
#include "tuner/halving_bracket.h"
#include "tuner/tuner_detail.h"

namespace nnilib::tuner_detail {

namespace {

constexpr double kEpsilon = 1e-6;  // NNI's _epsilon

class HyperbandTuner : public Tuner {
 public:
  HyperbandTuner(const SearchSpace& space, std::uint64_t seed, OptimizeMode mode, int max_budget,
                 int eta, bool serial)
      : space_(space),
        rng_(seed),
        mode_(mode),
        R_(max_budget),
        eta_(eta),
        serial_(serial),
        s_max_(hyperband_s_max(max_budget, eta)),
        curr_s_(s_max_) {}

  std::string name() const override { return "Hyperband"; }
  std::optional<OptimizeMode> optimize_mode() const override { return mode_; }
  double continued_budget() const override { return R_; }
  bool exhausted() const override { return false; }  // it starts new brackets forever

  nlohmann::json wire_parameter_id(std::int64_t parameter_id) const override {
    const auto it = issued_.find(parameter_id);
    if (it == issued_.end()) return parameter_id;
    return it->second.bracket + "_" + std::to_string(it->second.round) + "_" +
           std::to_string(it->second.counter);
  }

  std::optional<nlohmann::json> generate_parameters(std::int64_t parameter_id) override {
    if (queue_.empty()) {
      const bool may_open =
          !serial_ || current_.empty() || brackets_.at(current_).halving.no_more_rounds();
      if (!may_open) return std::nullopt;  // serial: wait for the current bracket
      open_bracket();
    }
    Job job = queue_.front();
    queue_.pop_front();
    nlohmann::json params = job.params;
    params[kTrialBudgetKey] = job.budget;
    issued_[parameter_id] = job;
    return params;
  }

  void receive_trial_result(std::int64_t parameter_id, const nlohmann::json& /*parameters*/,
                            double value) override {
    const auto it = issued_.find(parameter_id);
    if (it == issued_.end() || !std::isfinite(value)) return;
    brackets_.at(it->second.bracket).halving.record(it->second.round, it->second.counter, value);
  }

  void trial_end(std::int64_t parameter_id, bool /*succeeded*/) override {
    const auto it = issued_.find(parameter_id);
    if (it == issued_.end()) return;
    Bracket& b = brackets_.at(it->second.bracket);
    if (!b.halving.end_trial(it->second.round)) return;
    // The round is over: its best go on to the next one (continuing their checkpoints).
    const std::size_t next_round = b.halving.next_round();
    const std::int64_t next_r = floor_budget(b.halving.next_budget());
    const std::vector<std::int64_t> best = b.halving.promote(it->second.round, mode_);
    for (std::int64_t counter : best)
      queue_.push_back({b.id, next_round, counter, b.configs.at(counter), next_r});
    b.halving.start_round(best.size());
  }

 private:
  struct Job {
    std::string bracket;
    std::size_t round;
    std::int64_t counter;
    nlohmann::json params;  // without TRIAL_BUDGET
    std::int64_t budget;
  };

  struct Bracket {
    std::string id;
    HalvingBracket halving;
    std::map<std::int64_t, nlohmann::json> configs;  // counter -> parameters
  };

  // NNI's budgets are integers: floor(r eta^i).
  static std::int64_t floor_budget(double budget) {
    return static_cast<std::int64_t>(std::floor(budget + kEpsilon));
  }

  void open_bracket() {
    if (curr_s_ < 0) {
      curr_s_ = s_max_;
      ++curr_hb_;
    }
    Bracket b{std::to_string(curr_hb_) + "-" + std::to_string(curr_s_),
              HalvingBracket(curr_s_, s_max_, eta_, R_),
              {}};
    const std::int64_t n = b.halving.next_size();
    const std::int64_t r = floor_budget(b.halving.next_budget());
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t counter = next_counter_++;
      nlohmann::json params = space_.to_parameters(space_.sample_point(rng_));
      b.configs[counter] = params;
      queue_.push_back({b.id, 0, counter, std::move(params), r});
    }
    b.halving.start_round(static_cast<std::size_t>(n));
    current_ = b.id;
    brackets_.emplace(b.id, std::move(b));
    --curr_s_;
  }

  SearchSpace space_;
  SpaceRng rng_;
  OptimizeMode mode_;
  int R_, eta_;
  bool serial_;
  int s_max_, curr_s_;
  int curr_hb_ = 0;
  std::int64_t next_counter_ = 0;
  std::string current_;
  std::map<std::string, Bracket> brackets_;
  std::deque<Job> queue_;
  std::map<std::int64_t, Job> issued_;  // runner's parameter id -> the job it got
};

}  // namespace

int hyperband_s_max(int max_budget, int eta) {
  return static_cast<int>(std::floor(std::log(max_budget) / std::log(eta) + kEpsilon));
}

namespace {

const std::vector<std::string> kHyperbandArgs{"optimize_mode", "R", "eta", "exec_mode", "seed"};

std::unique_ptr<Tuner> make_hyperband(const nlohmann::json& args, const SearchSpace& space,
                                      std::uint64_t seed) {
  const ClassArgs a("tuner", "Hyperband", args, kHyperbandArgs);
  const OptimizeMode mode = a.optimize_mode(OptimizeMode::kMaximize);
  const std::int64_t R = a.integer("R", 60, 1, 100000);  // NNI's defaults: R 60, eta 3
  const std::int64_t eta = a.integer("eta", 3, 2, 1000);
  const std::string exec_mode =
      *a.choice("exec_mode", "parallelism", {"parallelism", "serial"}, false);
  const std::int64_t s = a.integer("seed", 0, 0, std::numeric_limits<std::int64_t>::max());
  return std::make_unique<HyperbandTuner>(
      space, a.has("seed") ? static_cast<std::uint64_t>(s) : seed, mode, static_cast<int>(R),
      static_cast<int>(eta), exec_mode == "serial");
}

}  // namespace

TunerEntry hyperband_entry() {
  return {"Hyperband",
          "NNI's Hyperband: brackets of successive halving, promotions continue checkpoints",
          kHyperbandArgs, make_hyperband};
}

}  // namespace nnilib::tuner_detail
