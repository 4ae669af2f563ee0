// NNI's TPE tuner (tpe_tuner.py, NNI 3.0): one adaptive Parzen estimator per
// dimension, good/bad split by gamma, candidates drawn from l(x) and ranked by
// l(x)/g(x), constant liar for concurrent trials, de-duplication in finite spaces.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "tuner/tuner_detail.h"

namespace nnilib::tuner_detail {

namespace {

constexpr double kPi = 3.14159265358979323846;

/// tpe_args, NNI's TpeArguments.
struct TpeArgs {
  std::optional<std::string> constant_liar_type = "best";
  std::size_t n_startup_jobs = 20;
  std::size_t n_ei_candidates = 24;
  std::size_t linear_forgetting = 25;
  double prior_weight = 1.0;
  double gamma = 0.25;
};

/// One observation of one dimension: its internal value and the trial's loss.
struct Record {
  double param;
  double loss;
};

using History = std::vector<std::vector<Record>>;  // per dimension

/// The weights of n observations in the order they are given, which is by loss rank
/// (split_history sorts them): a ramp from 1/n up to 1 over all but the last
/// `linear_forgetting`, which weigh 1. This is linear forgetting by loss rank, as NNI
/// 3.0 does it (its comment says "oldest", its code passes the values sorted by loss).
std::vector<double> forgetting_weights(const TpeArgs& args, std::size_t n) {
  std::vector<double> w(n, 1.0);
  const std::size_t lf = args.linear_forgetting;
  if (n < lf) return w;
  const std::size_t ramp = n - lf;  // numpy.linspace(1/n, 1, ramp)
  for (std::size_t i = 0; i < ramp; ++i)
    w[i] = ramp == 1 ? 1.0 / static_cast<double>(n)
                     : 1.0 / static_cast<double>(n) + (1.0 - 1.0 / static_cast<double>(n)) *
                                                          static_cast<double>(i) /
                                                          static_cast<double>(ramp - 1);
  return w;
}

/// Splits a dimension's history into the best ceil(gamma * sqrt(n)) values
/// (at most linear_forgetting) and the rest, both in order of loss.
std::pair<std::vector<double>, std::vector<double>> split_history(
    const TpeArgs& args, const std::vector<Record>& history) {
  std::size_t n_below = static_cast<std::size_t>(
      std::ceil(args.gamma * std::sqrt(static_cast<double>(history.size()))));
  n_below = std::min({n_below, args.linear_forgetting, history.size()});
  std::vector<std::size_t> order(history.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return history[a].loss < history[b].loss; });
  std::vector<double> below, above;
  for (std::size_t k = 0; k < order.size(); ++k)
    (k < n_below ? below : above).push_back(history[order[k]].param);
  return {below, above};
}

/// Index drawn with probabilities proportional to `weights` (which sum to ~1).
std::size_t draw(const std::vector<double>& weights, SpaceRng& rng) {
  const double u = rng.uniform01();
  double cumulative = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    cumulative += weights[i];
    if (u < cumulative) return i;
  }
  for (std::size_t i = weights.size(); i-- > 0;)  // rounding: the last non-zero weight
    if (weights[i] > 0) return i;
  return 0;
}

/// Normalizes `w` in place; equal weights when they sum to zero.
void normalize(std::vector<double>& w) {
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& x : w) x = sum > 0 ? x / sum : 1.0 / static_cast<double>(w.size());
}

/// A categorical Parzen estimator: forgetting-weighted counts plus the prior weight.
std::vector<double> categorical_estimator(const TpeArgs& args, const std::vector<double>& values,
                                          std::size_t size) {
  const std::vector<double> weights = forgetting_weights(args, values.size());
  std::vector<double> p(size, args.prior_weight);
  for (std::size_t i = 0; i < values.size(); ++i)
    p[static_cast<std::size_t>(values[i])] += weights[i];
  normalize(p);
  return p;
}

/// A 1-d Gaussian mixture: one component per observation plus the prior, sorted by mean.
struct Mixture {
  std::vector<double> weights, mus, sigmas;
};

/// The adaptive Parzen estimator of section 4.2 of the TPE paper, as NNI computes it.
Mixture adaptive_parzen_normal(const TpeArgs& args, const std::vector<double>& observed,
                               double prior_mu, double prior_sigma) {
  std::vector<double> mus = observed;
  mus.push_back(prior_mu);
  const std::size_t n = mus.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return mus[a] < mus[b]; });
  Mixture m;
  for (std::size_t i : order) m.mus.push_back(mus[i]);
  const std::size_t prior_index = static_cast<std::size_t>(
      std::lower_bound(m.mus.begin(), m.mus.end(), prior_mu) - m.mus.begin());

  m.sigmas.assign(n, prior_sigma);
  if (n == 2) {
    m.sigmas = {prior_sigma * 0.5, prior_sigma * 0.5};
  } else if (n > 2) {
    m.sigmas[0] = m.mus[1] - m.mus[0];
    m.sigmas[n - 1] = m.mus[n - 1] - m.mus[n - 2];
    for (std::size_t i = 1; i + 1 < n; ++i)
      m.sigmas[i] = std::max(m.mus[i] - m.mus[i - 1], m.mus[i + 1] - m.mus[i]);
  }
  if (n >= 2) m.sigmas[prior_index] = prior_sigma;
  // The "magic formula" of hyperopt: sigmas within [prior_sigma / min(100, n + 1), prior_sigma].
  const double min_sigma = prior_sigma / static_cast<double>(std::min<std::size_t>(100, n + 1));
  for (double& s : m.sigmas) s = std::clamp(s, min_sigma, prior_sigma);

  std::vector<double> weights = forgetting_weights(args, n - 1);
  weights.push_back(args.prior_weight);
  for (std::size_t i : order) m.weights.push_back(weights[i]);
  normalize(m.weights);
  return m;
}

/// `count` samples of the mixture, truncated to `clip` when given (rejection).
std::vector<double> gmm1_sample(const Mixture& m, std::size_t count,
                                const std::optional<std::pair<double, double>>& clip,
                                SpaceRng& rng) {
  std::vector<double> out;
  std::size_t tries = 0;
  while (out.size() < count) {
    const std::size_t k = draw(m.weights, rng);
    double x = m.mus[k] + m.sigmas[k] * rng.normal();
    if (clip && (x < clip->first || x > clip->second)) {
      // Components sit inside the bounds, so this ends quickly; the cap only guards
      // against a pathological mixture.
      if (++tries < 1000 * count) continue;
      x = std::clamp(x, clip->first, clip->second);
    }
    out.push_back(x);
  }
  return out;
}

/// Log density of the (truncated) mixture at each sample.
std::vector<double> gmm1_lpdf(const std::vector<double>& samples, const Mixture& m,
                              const std::optional<std::pair<double, double>>& clip) {
  constexpr double eps = 1e-12;
  double p_accept = 1;
  if (clip) {
    p_accept = 0;
    for (std::size_t k = 0; k < m.mus.size(); ++k) {
      const double scale = std::max(std::sqrt(2.0) * m.sigmas[k], eps);
      const double cdf_low = std::erf((clip->first - m.mus[k]) / scale) * 0.5 + 0.5;
      const double cdf_high = std::erf((clip->second - m.mus[k]) / scale) * 0.5 + 0.5;
      p_accept += m.weights[k] * (cdf_high - cdf_low);
    }
  }
  std::vector<double> out;
  std::vector<double> terms(m.mus.size());
  for (double x : samples) {
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < m.mus.size(); ++k) {
      const double z = (x - m.mus[k]) / std::max(m.sigmas[k], eps);
      const double coef = m.weights[k] / (std::sqrt(2 * kPi) * m.sigmas[k]) / p_accept;
      terms[k] = -0.5 * z * z + std::log(coef);
      top = std::max(top, terms[k]);
    }
    double sum = 0;
    for (double t : terms) sum += std::exp(t - top);
    out.push_back(std::log(sum) + top);
  }
  return out;
}

/// Index of the first maximum of below - above.
std::size_t best_ratio(const std::vector<double>& below, const std::vector<double>& above) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < below.size(); ++i)
    if (below[i] - above[i] > below[best] - above[best]) best = i;
  return best;
}

class TpeTuner : public Tuner {
 public:
  TpeTuner(const SearchSpace& space, OptimizeMode mode, TpeArgs args, std::uint64_t seed)
      : space_(space),
        mode_(mode),
        args_(std::move(args)),
        rng_(seed),
        dedup_(space_),
        history_(space_.dimensions().size()) {}
  std::string name() const override { return "TPE"; }
  std::optional<OptimizeMode> optimize_mode() const override { return mode_; }

  std::optional<nlohmann::json> generate_parameters(std::int64_t parameter_id) override {
    Internal internal;
    Point point;
    if (args_.constant_liar_type && !running_.empty()) {
      // Concurrent trials: pretend each running one got the liar's loss.
      History history = history_;
      const double lie = this->lie();
      for (const auto& [id, values] : running_)
        for (std::size_t i = 0; i < values.size(); ++i)
          if (values[i]) history[i].push_back({*values[i], lie});
      suggest(history, internal, point);
    } else {
      suggest(history_, internal, point);
    }
    const auto dedup = dedup_(point);
    if (!dedup) return std::nullopt;  // every point of a finite space has been tried
    if (dedup->second) {
      point = dedup->first;
      internal = to_internal(space_, point);
    }
    running_[parameter_id] = internal;
    return space_.to_parameters(point);
  }

  void receive_trial_result(std::int64_t parameter_id, const nlohmann::json& parameters,
                            double value) override {
    if (!std::isfinite(value)) return trial_end(parameter_id, false);
    const double loss = mode_ == OptimizeMode::kMinimize ? value : -value;
    best_ = std::min(best_.value_or(loss), loss);
    worst_ = std::max(worst_.value_or(loss), loss);
    sum_ += loss;
    ++count_;
    Internal internal;
    if (auto it = running_.find(parameter_id); it != running_.end()) {
      internal = std::move(it->second);
      running_.erase(it);
    } else {  // imported or from elsewhere: NNI's format_parameters()
      const Point point = space_.from_parameters(parameters);
      dedup_.add_history(space_.to_parameters(point));
      internal = to_internal(space_, point);
    }
    for (std::size_t i = 0; i < internal.size(); ++i)
      if (internal[i]) history_[i].push_back({*internal[i], loss});
  }

  void trial_end(std::int64_t parameter_id, bool /*succeeded*/) override {
    running_.erase(parameter_id);
  }

 private:
  double lie() const {
    // No real result yet: every record has the same lie, its value does not matter.
    if (count_ == 0) return 0.0;
    if (*args_.constant_liar_type == "best") return *best_;
    if (*args_.constant_liar_type == "worst") return *worst_;
    return sum_ / static_cast<double>(count_);
  }

  void suggest(const History& history, Internal& internal, Point& point) {
    const auto& dims = space_.dimensions();
    internal.assign(dims.size(), std::nullopt);
    point.assign(dims.size(), std::nullopt);
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (!space_.active(i, point)) continue;  // an option that is not chosen
      const double x = suggest_parameter(dims[i], history[i]);
      internal[i] = x;
      point[i] = to_slot(dims[i], x);
    }
  }

  double suggest_parameter(const Dimension& d, const std::vector<Record>& history) {
    if (history.size() < args_.n_startup_jobs) return random_internal(d, rng_);
    const auto [below, above] = split_history(args_, history);
    if (const std::size_t size = categorical_size(d)) {
      const std::vector<double> p_below = categorical_estimator(args_, below, size);
      const std::vector<double> p_above = categorical_estimator(args_, above, size);
      std::vector<double> samples, llik_below, llik_above;
      for (std::size_t k = 0; k < args_.n_ei_candidates; ++k) {
        const std::size_t s = draw(p_below, rng_);
        samples.push_back(static_cast<double>(s));
        llik_below.push_back(std::log(p_below[s]));
        llik_above.push_back(std::log(p_above[s]));
      }
      return samples[best_ratio(llik_below, llik_above)];
    }
    // Uniform types become normal((low + high) / 2, high - low) truncated to [low, high].
    double mu = d.mu, sigma = d.sigma;
    std::optional<std::pair<double, double>> clip;
    if (!d.normal_distributed()) {
      clip = internal_bounds(d);
      mu = (clip->first + clip->second) * 0.5;
      sigma = clip->second - clip->first;
    }
    const Mixture good = adaptive_parzen_normal(args_, below, mu, sigma);
    const std::vector<double> samples = gmm1_sample(good, args_.n_ei_candidates, clip, rng_);
    const Mixture bad = adaptive_parzen_normal(args_, above, mu, sigma);
    return samples[best_ratio(gmm1_lpdf(samples, good, clip), gmm1_lpdf(samples, bad, clip))];
  }

  SearchSpace space_;
  OptimizeMode mode_;
  TpeArgs args_;
  SpaceRng rng_;
  Deduplicator dedup_;
  History history_;
  std::map<std::int64_t, Internal> running_;  // generated, no result yet
  std::optional<double> best_, worst_;        // liar statistics over real losses
  double sum_ = 0;
  std::size_t count_ = 0;
};

}  // namespace

namespace {

const std::vector<std::string> kTpeArgs{"optimize_mode", "seed", "tpe_args"};

std::unique_ptr<Tuner> make_tpe(const nlohmann::json& args, const SearchSpace& space,
                                std::uint64_t seed) {
  const ClassArgs a("tuner", "TPE", args, kTpeArgs);
  // NNI 3.0's TpeTuner defaults to minimize (unlike most tuners).
  const OptimizeMode mode = a.optimize_mode(OptimizeMode::kMinimize);
  const std::int64_t s = a.integer("seed", 0, 0, std::numeric_limits<std::int64_t>::max());
  const ClassArgs t =
      a.object("tpe_args", {"constant_liar_type", "n_startup_jobs", "n_ei_candidates",
                            "linear_forgetting", "prior_weight", "gamma"});
  TpeArgs ta;
  constexpr std::int64_t kMax = 1000000000;
  ta.constant_liar_type = t.choice("constant_liar_type", "best", {"best", "worst", "mean"}, true);
  ta.n_startup_jobs = static_cast<std::size_t>(t.integer("n_startup_jobs", 20, 0, kMax));
  ta.n_ei_candidates = static_cast<std::size_t>(t.integer("n_ei_candidates", 24, 1, kMax));
  ta.linear_forgetting = static_cast<std::size_t>(t.integer("linear_forgetting", 25, 1, kMax));
  ta.prior_weight = t.number("prior_weight", 1.0, 0, true);
  ta.gamma = t.number("gamma", 0.25, 0, false);
  return std::make_unique<TpeTuner>(space, mode, std::move(ta),
                                    a.has("seed") ? static_cast<std::uint64_t>(s) : seed);
}

}  // namespace

TunerEntry tpe_entry() {
  return {"TPE", "NNI's tree-structured Parzen estimator (Bergstra et al. 2011)", kTpeArgs,
          make_tpe};
}

}  // namespace nnilib::tuner_detail
