// Search space: the random source and one dimension's values (NNI's sampling rules).
#include <cmath>
#include <limits>

#include "nnilib/space/space.h"
#include "space/space_detail.h"

namespace nnilib {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr std::uint64_t kSaturated = std::numeric_limits<std::uint64_t>::max();

// round(x / q) the way numpy does: to nearest, ties to even.
double round_to_step(double x, double q) { return std::nearbyint(x / q); }

double clip(double x, double low, double high) { return x < low ? low : (x > high ? high : x); }

// Number of steps k with round(low/q) <= k <= round(high/q); kSaturated when not exact.
std::uint64_t step_count(double low, double high, double q) {
  const double kmin = round_to_step(low, q);
  const double kmax = round_to_step(high, q);
  constexpr double kLimit = 4611686018427387904.0;  // 2^62: exact in int64 arithmetic
  if (!(std::fabs(kmin) < kLimit && std::fabs(kmax) < kLimit)) return kSaturated;
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(kmax) -
                                    static_cast<std::int64_t>(kmin)) +
         1;
}

[[noreturn]] void bad_slot(const Dimension& d, const std::string& rule) {
  throw ParamError("parameters " + space_detail::quote(d.label) + ": " + rule);
}

}  // namespace

// ---- SpaceRng ---------------------------------------------------------------

double SpaceRng::uniform01() { return static_cast<double>(bits() >> 11) * 0x1.0p-53; }

double SpaceRng::uniform(double a, double b) {
  const double u = uniform01();
  const double width = b - a;
  if (std::isfinite(width)) return a + width * u;  // numpy's low + (high - low) * u
  return a * (1 - u) + b * u;                      // no overflow for huge ranges
}

std::uint64_t SpaceRng::below(std::uint64_t n) {
  // Reject the few values that would bias r % n: the top (2^64 mod n) of the range.
  const std::uint64_t threshold = (0 - n) % n;
  for (;;) {
    const std::uint64_t r = bits();
    if (r >= threshold) return r % n;
  }
}

double SpaceRng::normal() {
  const double u1 = 1.0 - uniform01();  // (0, 1]: log() stays finite
  const double u2 = uniform01();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

// ---- Dimension --------------------------------------------------------------

bool Dimension::log_scale() const {
  return type == SpaceType::kLoguniform || type == SpaceType::kQloguniform ||
         type == SpaceType::kLognormal || type == SpaceType::kQlognormal;
}

bool Dimension::normal_distributed() const {
  return type == SpaceType::kNormal || type == SpaceType::kQnormal ||
         type == SpaceType::kLognormal || type == SpaceType::kQlognormal;
}

bool Dimension::finite() const {
  return type == SpaceType::kChoice || type == SpaceType::kRandint ||
         type == SpaceType::kQuniform || type == SpaceType::kQloguniform;
}

std::uint64_t Dimension::cardinality() const {
  switch (type) {
    case SpaceType::kChoice:
      return options.size();
    case SpaceType::kRandint:
      return static_cast<std::uint64_t>(upper - lower);  // both within +-2^53
    case SpaceType::kQuniform:
    case SpaceType::kQloguniform:
      return step_count(low, high, q);
    default:
      return 0;
  }
}

double Dimension::grid_slot(std::uint64_t k) const {
  const std::uint64_t n = cardinality();
  if (n == 0)
    space_detail::fail(label, std::string(to_string(type)) + " has no grid (it is continuous)");
  if (k >= n)
    space_detail::fail(label, "grid value " + std::to_string(k) + " out of range (" +
                                  std::to_string(n) + " values)");
  switch (type) {
    case SpaceType::kChoice:
      return static_cast<double>(k);
    case SpaceType::kRandint:
      return static_cast<double>(lower + static_cast<std::int64_t>(k));
    default:  // quniform, qloguniform: the same expression as snap() so values match exactly
      return clip((round_to_step(low, q) + static_cast<double>(k)) * q, low, high);
  }
}

double Dimension::snap(double x) const {
  switch (type) {
    case SpaceType::kUniform:
    case SpaceType::kLoguniform:
      return clip(x, low, high);
    case SpaceType::kQuniform:
    case SpaceType::kQloguniform:
      return clip(round_to_step(x, q) * q, low, high);
    case SpaceType::kQnormal:
    case SpaceType::kQlognormal:
      return round_to_step(x, q) * q;
    default:  // choice, randint, normal, lognormal
      return x;
  }
}

double Dimension::sample(SpaceRng& rng) const {
  switch (type) {
    case SpaceType::kChoice:
      return static_cast<double>(rng.below(options.size()));
    case SpaceType::kRandint:
      return static_cast<double>(
          lower + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(upper - lower))));
    case SpaceType::kUniform:
    case SpaceType::kQuniform:
      return snap(rng.uniform(low, high));
    case SpaceType::kLoguniform:
    case SpaceType::kQloguniform:
      return snap(std::exp(rng.uniform(std::log(low), std::log(high))));
    case SpaceType::kNormal:
    case SpaceType::kQnormal:
      return snap(mu + sigma * rng.normal());
    case SpaceType::kLognormal:
    case SpaceType::kQlognormal:
      return snap(std::exp(mu + sigma * rng.normal()));
  }
  return 0;  // unreachable
}

nlohmann::json Dimension::to_json(double slot) const {
  if (!std::isfinite(slot)) bad_slot(*this, "value is not finite");
  if (type == SpaceType::kChoice) {
    if (slot != std::floor(slot) || slot < 0 || slot >= static_cast<double>(options.size()))
      bad_slot(*this, "option index " + space_detail::number(slot) + " out of range (" +
                          std::to_string(options.size()) + " options)");
    const ChoiceOption& o = options[static_cast<std::size_t>(slot)];
    if (o.nested) return nlohmann::json{{"_name", o.value}};
    return o.value;
  }
  if (type == SpaceType::kRandint) {
    if (slot != std::floor(slot) || slot < low || slot >= high)
      bad_slot(*this, "randint value " + space_detail::number(slot) + " outside [" +
                          std::to_string(lower) + ", " + std::to_string(upper) + ")");
    return static_cast<std::int64_t>(slot);
  }
  if (!normal_distributed() && (slot < low || slot > high))
    bad_slot(*this, std::string(to_string(type)) + " value " + space_detail::number(slot) +
                        " outside [" + space_detail::number(low) + ", " +
                        space_detail::number(high) + "]");
  return slot;
}

}  // namespace nnilib
