// Tuners: the interface's defaults, classArgs checking, NNI's internal parameter
// values and its de-duplicator.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "nnilib/common/json_text.h"
#include "nnilib/tuner/tuner.h"
#include "tuner/tuner_detail.h"

namespace nnilib {

Tuner::~Tuner() = default;

void Tuner::trial_end(std::int64_t /*parameter_id*/, bool /*succeeded*/) {}

double Tuner::continued_budget() const { return 0; }

std::optional<OptimizeMode> Tuner::optimize_mode() const { return std::nullopt; }

bool Tuner::exhausted() const { return true; }

nlohmann::json Tuner::wire_parameter_id(std::int64_t parameter_id) const { return parameter_id; }

void Tuner::import_data(const std::vector<ImportedTrial>& trials) {
  std::int64_t id = -1;
  for (const ImportedTrial& t : trials) receive_trial_result(id--, t.parameters, t.value);
}

namespace tuner_detail {

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const std::string& w : words) s += (s.empty() ? "" : ", ") + w;
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string canonical(const nlohmann::json& parameters) { return parameters.dump(); }

// ---- ClassArgs ----------------------------------------------------------------

ClassArgs::ClassArgs(std::string kind, std::string name, const nlohmann::json& args,
                     std::vector<std::string> accepted, std::string prefix)
    : kind_(std::move(kind)), name_(std::move(name)), prefix_(std::move(prefix)) {
  if (args.is_null()) {
    args_ = nlohmann::json::object();
    return;
  }
  if (!args.is_object())
    throw ParamError(
        kind_ + " " + name_ + ": " +
        (prefix_.empty() ? std::string("classArgs") : prefix_.substr(0, prefix_.size() - 1)) +
        " must be a mapping, got " + json_brief(args));
  args_ = args;
  for (auto it = args_.begin(); it != args_.end(); ++it)
    if (std::find(accepted.begin(), accepted.end(), it.key()) == accepted.end())
      throw ParamError(kind_ + " " + name_ + ": unknown " + prefix_.substr(0, prefix_.size() - 1) +
                       " key " + json_quote(it.key()) +
                       "; accepted: " + (accepted.empty() ? std::string("none") : join(accepted)));
}

bool ClassArgs::has(const std::string& key) const { return args_.contains(key); }

void ClassArgs::fail(const std::string& key, const std::string& rule) const {
  throw ParamError(kind_ + " " + name_ + ": " + prefix_ + key + " " + rule + ", got " +
                   json_brief(args_.at(key)));
}

OptimizeMode ClassArgs::optimize_mode(OptimizeMode fallback) const {
  const auto v =
      choice("optimize_mode", fallback == OptimizeMode::kMaximize ? "maximize" : "minimize",
             {"maximize", "minimize"}, false);
  return *v == "maximize" ? OptimizeMode::kMaximize : OptimizeMode::kMinimize;
}

std::int64_t ClassArgs::integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                                std::int64_t max) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = args_.at(key);
  const std::string rule =
      "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max))
      fail(key, rule);
    const std::int64_t x = v.get<std::int64_t>();
    if (x < min || x > max) fail(key, rule);
    return x;
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && x == std::floor(x) && x >= static_cast<double>(min) &&
        x <= static_cast<double>(max))
      return static_cast<std::int64_t>(x);
  }
  fail(key, rule);
}

double ClassArgs::number(const std::string& key, double fallback, double min,
                         bool min_inclusive) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = args_.at(key);
  const std::string rule =
      std::string("must be a number ") + (min_inclusive ? ">= " : "> ") + json_number(min);
  if (!v.is_number()) fail(key, rule);
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < min || (!min_inclusive && x == min)) fail(key, rule);
  return x;
}

ClassArgs ClassArgs::object(const std::string& key, std::vector<std::string> accepted) const {
  return ClassArgs(kind_, name_, has(key) ? args_.at(key) : nlohmann::json(), std::move(accepted),
                   prefix_ + key + ".");
}

std::optional<std::string> ClassArgs::choice(const std::string& key, const std::string& fallback,
                                             const std::vector<std::string>& choices,
                                             bool nullable) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = args_.at(key);
  if (nullable && v.is_null()) return std::nullopt;
  if (v.is_string()) {
    const std::string s = lower(v.get<std::string>());
    if (nullable && s == "none") return std::nullopt;
    if (std::find(choices.begin(), choices.end(), s) != choices.end()) return s;
  }
  fail(key, "must be one of " + join(choices) + (nullable ? ", null" : ""));
}

// ---- NNI's internal values ----------------------------------------------------

std::size_t categorical_size(const Dimension& d) {
  if (d.type == SpaceType::kChoice) return d.options.size();
  if (d.type == SpaceType::kRandint) return static_cast<std::size_t>(d.upper - d.lower);
  return 0;
}

double to_slot(const Dimension& d, double x) {
  if (d.type == SpaceType::kChoice) return x;
  if (d.type == SpaceType::kRandint) return static_cast<double>(d.lower) + x;
  return d.snap(d.log_scale() ? std::exp(x) : x);
}

double to_internal(const Dimension& d, double slot) {
  if (d.type == SpaceType::kChoice) return slot;
  if (d.type == SpaceType::kRandint) return slot - static_cast<double>(d.lower);
  // A qlognormal value may be 0 after rounding; keep its log finite.
  if (d.log_scale()) return std::log(std::max(slot, std::numeric_limits<double>::min()));
  return slot;
}

Internal to_internal(const SearchSpace& space, const Point& point) {
  Internal out(point.size());
  for (std::size_t i = 0; i < point.size(); ++i)
    if (point[i]) out[i] = to_internal(space.dimensions()[i], *point[i]);
  return out;
}

std::pair<double, double> internal_bounds(const Dimension& d) {
  if (d.log_scale()) return {std::log(d.low), std::log(d.high)};
  return {d.low, d.high};
}

double random_internal(const Dimension& d, SpaceRng& rng) {
  if (const std::size_t n = categorical_size(d)) return static_cast<double>(rng.below(n));
  if (d.normal_distributed()) return d.mu + d.sigma * rng.normal();
  const auto [lo, hi] = internal_bounds(d);
  return rng.uniform(lo, hi);
}

double normal_quantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  // Acklam's rational approximation (relative error < 1.2e-9) ...
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double plow = 0.02425;
  double x;
  if (p < plow) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - plow) {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // ... and one Halley step on Phi(x) - p, which brings it to full double precision.
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * 3.14159265358979323846) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

// ---- Deduplicator ---------------------------------------------------------------

Deduplicator::Deduplicator(const SearchSpace& space) : space_(&space), never_dup_(false) {
  // NNI: any continuous (non-quantized, non-categorical) dimension makes repeats impossible.
  for (const Dimension& d : space.dimensions())
    if (!d.categorical() && d.type != SpaceType::kRandint && !d.quantized()) never_dup_ = true;
}

bool Deduplicator::not_dup(const Point& point) {
  return history_.insert(canonical(space_->to_parameters(point))).second;
}

void Deduplicator::add_history(const nlohmann::json& parameters) {
  history_.insert(canonical(parameters));
}

std::optional<std::pair<Point, bool>> Deduplicator::operator()(const Point& point) {
  if (never_dup_ || not_dup(point)) return std::make_pair(point, false);
  if (!grid_) grid_ = std::make_unique<GridWalker>(*space_);
  for (;;) {
    std::optional<Point> next = grid_->next();
    if (!next) return std::nullopt;
    if (not_dup(*next)) return std::make_pair(std::move(*next), true);
  }
}

}  // namespace tuner_detail
}  // namespace nnilib
