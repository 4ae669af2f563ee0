// NNI 3.0's BOHB advisor (bohb_advisor.py and config_generator.py; Falkner et al.,
// ICML 2018): Hyperband's brackets, one at a time, with new configurations drawn from
// a model instead of at random.
//
// Brackets: s_max = floor(log_eta(max_budget / min_budget)); bracket s (s_max down to
// 0, then again) starts n = ceil((s_max + 1) eta^s / (s + 1)) configurations at
// r = max_budget / eta^s; round i runs floor(n / eta^i) of them for r eta^i. When every
// trial of a round has ended, its best go on. exec_mode parallelism (the default; not an
// NNI BOHB argument, but Hyperband's, and what BOHB's own HpBandSter does): a new
// bracket starts whenever a trial could start and no configuration waits, so no core
// idles while a bracket's last rounds run; the jobs of older brackets go first. serial
// (NNI's BOHB): a new bracket starts once the newest one has started its last round and
// a trial ends. Ids: "<s>_<i>_<n>", n unique over the experiment. A promoted trial
// continues the checkpoint of the round before (continued_budget: the runner asks every
// trial for a checkpoint and a schedule over max_budget), where NNI trains it again from
// scratch.
//
// The model, per budget: once a budget has more than min_points_in_model results
// (default: dimensions + 1), the best top_n_percent of them (at least
// min_points_in_model) and the rest each get a multivariate kernel density estimate, a
// product of one kernel per dimension over the configuration as a vector: continuous
// dimensions scaled to [0, 1] (log scale for log types, the normal CDF for normal types)
// with a Gaussian kernel, categorical ones (choice, randint) with the Aitchison-Aitken
// kernel; bandwidths by the normal reference rule 1.06 sd n^(-1/(4+d)), at least
// min_bandwidth. Dimensions of an option that is not chosen are imputed from another
// good point, as BOHB does. A new configuration is random with probability
// random_fraction (and while no budget has a model); otherwise num_samples candidates
// are drawn around good points of the largest budget with a model (Gaussian bandwidth
// times bandwidth_factor, truncated to [0, 1]; categorical values kept with
// probability 1 - bandwidth) and the one with the smallest bad/good density ratio wins.
//
// Differences from NNI: nested choices work (NNI's BOHB builds a flat ConfigSpace and
// cannot take them); a categorical bandwidth is capped at (levels - 1) / levels so its
// kernel never goes negative (statsmodels leaves it unbounded); rankings use final
// results only; imported results (resume, fmnist-nas --warm-start) feed the model of
// their TRIAL_BUDGET, where NNI's BOHB ignores them.
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>

#include "nnilib/common/trial_budget.h"
#include "tuner/halving_bracket.h"
#include "tuner/tuner_detail.h"

namespace nnilib::tuner_detail {

namespace {

constexpr double kEpsilon = 1e-6;
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

struct BohbArgs {
  OptimizeMode mode = OptimizeMode::kMaximize;
  double min_budget = 1, max_budget = 3;
  int eta = 3;
  std::size_t min_points = 0;  // 0: dimensions + 1
  int top_n_percent = 15;
  std::size_t num_samples = 64;
  double random_fraction = 1.0 / 3;
  double bandwidth_factor = 3;
  double min_bandwidth = 1e-3;
  bool serial = false;  // exec_mode serial: NNI's one-bracket-at-a-time rule
};

// A product-kernel density over configuration vectors.
struct Kde {
  std::vector<std::vector<double>> data;
  std::vector<double> bw;

  double pdf(const std::vector<double>& x, const std::vector<std::size_t>& levels) const {
    double sum = 0;
    for (const auto& row : data) {
      double p = 1;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (levels[i] > 0) {
          const double h = bw[i];
          p *= std::lround(row[i]) == std::lround(x[i]) ? 1 - h
                                                        : h / static_cast<double>(levels[i] - 1);
        } else {
          const double z = (x[i] - row[i]) / bw[i];
          p *= std::exp(-0.5 * z * z) / (bw[i] * std::sqrt(2 * M_PI));
        }
      }
      sum += p;
    }
    return sum / static_cast<double>(data.size());
  }
};

class BohbTuner : public Tuner {
 public:
  BohbTuner(const SearchSpace& space, std::uint64_t seed, BohbArgs args)
      : space_(space),
        rng_(seed),
        a_(args),
        s_max_(static_cast<int>(std::floor(
            std::log(args.max_budget / args.min_budget) / std::log(args.eta) + kEpsilon))),
        curr_s_(s_max_) {
    for (const Dimension& d : space_.dimensions()) levels_.push_back(categorical_size(d));
    if (a_.min_points == 0 || a_.min_points < levels_.size() + 1)
      a_.min_points = levels_.size() + 1;
  }

  std::string name() const override { return "BOHB"; }
  std::optional<OptimizeMode> optimize_mode() const override { return a_.mode; }
  bool exhausted() const override { return false; }
  double continued_budget() const override { return a_.max_budget; }

  // Each result goes to the model of its budget (the largest when it has none), in
  // ascending budget order so that every budget's results count before a larger one's
  // model forms; parameters outside this space are skipped.
  void import_data(const std::vector<ImportedTrial>& trials) override {
    std::vector<std::pair<double, const ImportedTrial*>> order;
    for (const ImportedTrial& t : trials) {
      if (!std::isfinite(t.value) || !t.parameters.is_object()) continue;
      const double budget = trial_budget(t.parameters);
      order.emplace_back(budget > 0 ? budget : a_.max_budget, &t);
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    for (const auto& [budget, t] : order) {
      const nlohmann::json config = configuration_of(t->parameters);
      Point point;
      try {
        point = space_.from_parameters(config);
      } catch (const ParamError&) {
        continue;  // not a point of this space
      }
      add_result(budget, point, a_.mode == OptimizeMode::kMaximize ? -t->value : t->value);
    }
  }

  nlohmann::json wire_parameter_id(std::int64_t parameter_id) const override {
    const auto it = issued_.find(parameter_id);
    if (it == issued_.end()) return parameter_id;
    return std::to_string(it->second.s) + "_" + std::to_string(it->second.round) + "_" +
           std::to_string(it->second.counter);
  }

  std::optional<nlohmann::json> generate_parameters(std::int64_t parameter_id) override {
    if (brackets_.empty()) open_bracket();
    if (queue_.empty() && !a_.serial) {  // a free slot and nothing waiting: the next bracket
      --curr_s_;
      open_bracket();
    }
    if (queue_.empty()) return std::nullopt;  // serial: waits for the bracket's trials
    Job job = queue_.front();
    queue_.pop_front();
    issued_[parameter_id] = job;
    nlohmann::json params = space_.to_parameters(job.point);
    params[kTrialBudgetKey] = job.budget;
    return params;
  }

  void receive_trial_result(std::int64_t parameter_id, const nlohmann::json& /*parameters*/,
                            double value) override {
    const auto it = issued_.find(parameter_id);
    if (it == issued_.end() || !std::isfinite(value)) return;
    const Job& job = it->second;
    brackets_.at(job.iteration).halving.record(job.round, job.counter, value);
    add_result(job.budget, job.point, a_.mode == OptimizeMode::kMaximize ? -value : value);
  }

  void trial_end(std::int64_t parameter_id, bool /*succeeded*/) override {
    const auto it = issued_.find(parameter_id);
    if (it == issued_.end()) return;
    const Job job = it->second;
    Bracket& b = brackets_.at(job.iteration);
    if (b.halving.end_trial(job.round)) {
      const std::size_t next_round = b.halving.next_round();
      const double next_r = b.halving.next_budget();
      const std::vector<std::int64_t> best = b.halving.promote(job.round, a_.mode);
      // Before the jobs of newer brackets: an older bracket finishes first.
      auto at = std::find_if(queue_.begin(), queue_.end(),
                             [&](const Job& queued) { return queued.iteration > job.iteration; });
      for (std::int64_t counter : best) {
        at = queue_.insert(
            at, {job.iteration, b.halving.s(), next_round, counter, b.points.at(counter), next_r});
        ++at;
      }
      b.halving.start_round(best.size());
    } else if (b.halving.no_more_rounds() && job.iteration == next_iteration_ - 1 &&
               queue_.empty()) {
      --curr_s_;
      open_bracket();
    }
  }

 private:
  struct Job {
    std::int64_t iteration;  // the bracket's number, in the order brackets opened
    int s;
    std::size_t round;
    std::int64_t counter;
    Point point;
    double budget;
  };
  struct Bracket {
    HalvingBracket halving;
    std::map<std::int64_t, Point> points;  // counter -> configuration
  };

  void open_bracket() {
    if (curr_s_ < 0) curr_s_ = s_max_;
    const std::int64_t iteration = next_iteration_++;
    Bracket b{HalvingBracket(curr_s_, s_max_, a_.eta, a_.max_budget), {}};
    const std::int64_t n = b.halving.next_size();
    const double r = b.halving.next_budget();
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t counter = next_counter_++;
      b.points[counter] = new_config();
      queue_.push_back({iteration, curr_s_, 0, counter, b.points[counter], r});
    }
    b.halving.start_round(static_cast<std::size_t>(n));
    brackets_.emplace(iteration, std::move(b));
  }

  // ---- the configuration vector ----------------------------------------------------

  std::vector<double> to_vector(const Point& point) const {
    const auto& dims = space_.dimensions();
    const Internal internal = to_internal(space_, point);
    std::vector<double> v(dims.size(), kNan);
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (!internal[i]) continue;
      const double x = *internal[i];
      if (levels_[i] > 0) {
        v[i] = x;
      } else if (dims[i].normal_distributed()) {
        v[i] = std::clamp(0.5 * std::erfc(-(x - dims[i].mu) / (dims[i].sigma * std::sqrt(2.0))),
                          1e-6, 1 - 1e-6);
      } else {
        const auto [lo, hi] = internal_bounds(dims[i]);
        v[i] = hi > lo ? std::clamp((x - lo) / (hi - lo), 0.0, 1.0) : 0.5;
      }
    }
    return v;
  }

  Point from_vector(const std::vector<double>& v) const {
    const auto& dims = space_.dimensions();
    Point point(dims.size(), std::nullopt);
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (!space_.active(i, point)) continue;
      double x;
      if (levels_[i] > 0) {
        x = std::clamp(std::round(v[i]), 0.0, static_cast<double>(levels_[i] - 1));
      } else if (dims[i].normal_distributed()) {
        x = dims[i].mu + dims[i].sigma * normal_quantile(std::clamp(v[i], 1e-6, 1 - 1e-6));
      } else {
        const auto [lo, hi] = internal_bounds(dims[i]);
        x = lo + std::clamp(v[i], 0.0, 1.0) * (hi - lo);
      }
      point[i] = to_slot(dims[i], x);
    }
    return point;
  }

  // Fills the dimensions a configuration does not use, as BOHB's impute_conditional_data.
  std::vector<std::vector<double>> impute(std::vector<std::vector<double>> rows) {
    const std::vector<std::vector<double>> original = rows;
    for (auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (!std::isnan(row[i])) continue;
        std::vector<std::size_t> donors;
        for (std::size_t j = 0; j < original.size(); ++j)
          if (!std::isnan(original[j][i])) donors.push_back(j);
        if (!donors.empty()) {
          row[i] = original[donors[rng_.below(donors.size())]][i];
        } else {
          row[i] = levels_[i] > 0 ? static_cast<double>(rng_.below(levels_[i])) : rng_.uniform01();
        }
      }
    }
    return rows;
  }

  Kde fit(std::vector<std::vector<double>> rows) const {
    Kde k;
    const std::size_t n = rows.size(), d = levels_.size();
    k.bw.assign(d, a_.min_bandwidth);
    for (std::size_t i = 0; i < d; ++i) {
      double mean = 0, var = 0;
      for (const auto& r : rows) mean += r[i];
      mean /= static_cast<double>(n);
      for (const auto& r : rows) var += (r[i] - mean) * (r[i] - mean);
      const double sd = std::sqrt(var / static_cast<double>(n > 1 ? n - 1 : 1));
      double bw =
          1.06 * sd * std::pow(static_cast<double>(n), -1.0 / (4.0 + static_cast<double>(d)));
      bw = std::max(bw, a_.min_bandwidth);
      if (levels_[i] > 0)
        bw = std::min(bw, static_cast<double>(levels_[i] - 1) / static_cast<double>(levels_[i]));
      k.bw[i] = bw;
    }
    k.data = std::move(rows);
    return k;
  }

  void add_result(double budget, const Point& point, double loss) {
    for (const auto& [b, model] : models_)
      if (b > budget + kEpsilon) return;  // a model for a larger budget exists already
    auto& obs = observations_[budget];
    obs.push_back({to_vector(point), loss});
    const std::size_t n = obs.size(), d = levels_.size();
    if (n < a_.min_points) return;  // NNI: more than min_points_in_model - 1 results
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t x, std::size_t y) { return obs[x].second < obs[y].second; });
    const std::size_t n_good =
        std::max(a_.min_points, static_cast<std::size_t>(a_.top_n_percent) * n / 100);
    const std::size_t n_bad =
        std::max(a_.min_points, static_cast<std::size_t>(100 - a_.top_n_percent) * n / 100);
    std::vector<std::vector<double>> good, bad;
    for (std::size_t k = 0; k < n; ++k) {
      if (k < n_good)
        good.push_back(obs[order[k]].first);
      else if (k < n_good + n_bad)
        bad.push_back(obs[order[k]].first);
    }
    if (good.size() <= d || bad.size() <= d) return;
    models_[budget] = {fit(impute(std::move(good))), fit(impute(std::move(bad)))};
  }

  Point new_config() {
    if (models_.empty() || rng_.uniform01() < a_.random_fraction) return space_.sample_point(rng_);
    const auto& [good, bad] = models_.rbegin()->second;  // the largest budget with a model
    double best = std::numeric_limits<double>::infinity();
    std::vector<double> best_vector;
    for (std::size_t s = 0; s < a_.num_samples; ++s) {
      const auto& datum = good.data[rng_.below(good.data.size())];
      std::vector<double> v(datum.size());
      for (std::size_t i = 0; i < datum.size(); ++i) {
        const double bw = std::max(good.bw[i], a_.min_bandwidth);
        if (levels_[i] == 0) {
          const double scale = a_.bandwidth_factor * bw;
          double x = datum[i];
          for (int tries = 0; tries < 100; ++tries) {  // a normal truncated to [0, 1]
            x = datum[i] + scale * rng_.normal();
            if (x >= 0 && x <= 1) break;
          }
          v[i] = std::clamp(x, 0.0, 1.0);
        } else {
          v[i] = rng_.uniform01() < 1 - bw ? std::round(datum[i])
                                           : static_cast<double>(rng_.below(levels_[i]));
        }
      }
      const double ratio =
          std::max(1e-32, bad.pdf(v, levels_)) / std::max(good.pdf(v, levels_), 1e-32);
      if (std::isfinite(ratio) && ratio < best) {
        best = ratio;
        best_vector = v;
      }
    }
    if (best_vector.empty()) return space_.sample_point(rng_);
    return from_vector(best_vector);
  }

  SearchSpace space_;
  SpaceRng rng_;
  BohbArgs a_;
  std::vector<std::size_t> levels_;  // per dimension: categorical levels, 0 = continuous
  int s_max_, curr_s_;
  std::int64_t next_counter_ = 0;
  std::int64_t next_iteration_ = 0;
  std::map<std::int64_t, Bracket> brackets_;  // by iteration
  std::deque<Job> queue_;
  std::map<std::int64_t, Job> issued_;
  std::map<double, std::vector<std::pair<std::vector<double>, double>>> observations_;
  std::map<double, std::pair<Kde, Kde>> models_;  // budget -> (good, bad)
};

const std::vector<std::string> kBohbArgs{"optimize_mode", "min_budget",          "max_budget",
                                         "eta",           "min_points_in_model", "top_n_percent",
                                         "num_samples",   "random_fraction",     "bandwidth_factor",
                                         "min_bandwidth", "exec_mode",           "seed"};

std::unique_ptr<Tuner> make_bohb(const nlohmann::json& args, const SearchSpace& space,
                                 std::uint64_t seed) {
  const ClassArgs a("tuner", "BOHB", args, kBohbArgs);
  BohbArgs b;
  b.mode = a.optimize_mode(OptimizeMode::kMaximize);
  b.min_budget = a.number("min_budget", 1, 0, false);  // NNI's defaults
  b.max_budget = a.number("max_budget", 3, 0, false);
  if (b.max_budget <= b.min_budget)
    a.fail("max_budget",
           "must be larger than min_budget (" + nlohmann::json(b.min_budget).dump() + ")");
  if (b.max_budget > 100000) a.fail("max_budget", "must be at most 100000");
  b.eta = static_cast<int>(a.integer("eta", 3, 2, 1000));
  if (a.has("min_points_in_model") && !a.raw("min_points_in_model").is_null())
    b.min_points = static_cast<std::size_t>(a.integer("min_points_in_model", 0, 0, 100000));
  b.top_n_percent = static_cast<int>(a.integer("top_n_percent", 15, 1, 99));
  b.num_samples = static_cast<std::size_t>(a.integer("num_samples", 64, 1, 100000));
  b.random_fraction = a.number("random_fraction", 1.0 / 3, 0, true);
  if (b.random_fraction > 1) a.fail("random_fraction", "must be between 0 and 1");
  b.bandwidth_factor = a.number("bandwidth_factor", 3, 0, false);
  b.min_bandwidth = a.number("min_bandwidth", 1e-3, 0, false);
  b.serial = *a.choice("exec_mode", "parallelism", {"parallelism", "serial"}, false) == "serial";
  const std::int64_t s = a.integer("seed", 0, 0, std::numeric_limits<std::int64_t>::max());
  return std::make_unique<BohbTuner>(space, a.has("seed") ? static_cast<std::uint64_t>(s) : seed,
                                     b);
}

}  // namespace

TunerEntry bohb_entry() {
  return {"BOHB",
          "NNI's BOHB: Hyperband's brackets with a density model per budget (Falkner et al. 2018)",
          kBohbArgs, make_bohb};
}

}  // namespace nnilib::tuner_detail
