// Helpers shared by the tuner sources (not installed, not public): reading
// classArgs, NNI's "formatted" (internal) parameter values, NNI's grid walk and
// its de-duplicator, and the registry entries of the individual tuners.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"
#include "nnilib/space/space.h"
#include "nnilib/tuner/tuner.h"
#include "nnilib/tuner/tuner_registry.h"

namespace nnilib::tuner_detail {

/// Reads and checks an algorithm's classArgs; errors read
/// `<kind> <name>: classArgs.<key> must be ..., got <value>`.
class ClassArgs {
 public:
  /// `kind` is "tuner" or "assessor"; `accepted` lists every key allowed.
  ClassArgs(std::string kind, std::string name, const nlohmann::json& args,
            std::vector<std::string> accepted, std::string prefix = "classArgs.");
  bool has(const std::string& key) const;
  const nlohmann::json& raw(const std::string& key) const { return args_.at(key); }
  OptimizeMode optimize_mode(OptimizeMode fallback) const;
  /// An integer in [min, max] (a JSON integer, or a float with an integral value).
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max) const;
  /// A finite number > min (min_inclusive: >= min).
  double number(const std::string& key, double fallback, double min, bool min_inclusive) const;
  /// Nested object `key` (null or absent: empty) as its own ClassArgs.
  ClassArgs object(const std::string& key, std::vector<std::string> accepted) const;
  /// A string among `choices`, or null (nullopt) when `nullable`.
  std::optional<std::string> choice(const std::string& key, const std::string& fallback,
                                    const std::vector<std::string>& choices, bool nullable) const;
  [[noreturn]] void fail(const std::string& key, const std::string& rule) const;

 private:
  std::string kind_, name_, prefix_;
  nlohmann::json args_;
};

/// "a, b, c".
std::string join(const std::vector<std::string>& words);
/// Lower-case ASCII copy.
std::string lower(std::string s);

/// NNI's internal ("formatted") value of a dimension: the option index for
/// choice, value - lower for randint, log(value) for the log types, the value
/// itself otherwise (before quantization when the tuner drew it).
using Internal = std::vector<std::optional<double>>;

/// Size of a categorical dimension (choice, randint) in NNI's sense; 0 otherwise.
std::size_t categorical_size(const Dimension& d);
/// The slot of space.h's Point for internal value x (exp, round to q, clip).
double to_slot(const Dimension& d, double x);
/// The internal value of a slot (inverse of to_slot up to quantization).
double to_internal(const Dimension& d, double slot);
/// Internal values of a point (inactive dimensions stay nullopt).
Internal to_internal(const SearchSpace& space, const Point& point);
/// Low/high of a bounded dimension in internal (log for log types) units.
std::pair<double, double> internal_bounds(const Dimension& d);
/// One internal value drawn like NNI's random tuner (uniform in internal units).
double random_internal(const Dimension& d, SpaceRng& rng);

/// The standard normal quantile Phi^-1(p); -inf at 0, +inf at 1.
double normal_quantile(double p);

/// NNI's grid search walk (gridsearch_tuner.py): categorical dimensions are
/// enumerated, numerical ones sampled at 1/2, then 1/4 and 3/4, then the
/// eighths... (quantiles for normal types) until no interval can be divided
/// further (q-types, floating point); nested choices only walk the chosen
/// option's sub-space; the last dimension varies fastest. Each suggestion is a
/// point not produced in an earlier epoch; callers drop repeats of values.
class GridWalker {
 public:
  explicit GridWalker(const SearchSpace& space);
  /// The next point, or nullopt when the whole grid has been walked.
  std::optional<Point> next();

 private:
  bool less(double x, double y, std::size_t dim) const;
  double cdf_inverse(double x, std::size_t dim) const;
  Point current() const;
  void next_vector();
  void next_grid();

  const SearchSpace* space_;
  bool exhausted_ = false;
  std::vector<std::vector<double>> grid_;  // per dimension: indices or quantile fractions
  std::vector<std::vector<std::pair<double, double>>> divisions_;
  std::vector<std::size_t> epoch_bar_;
  std::optional<std::vector<std::size_t>> vector_;
};

/// NNI's Deduplicator (hpo_utils/dedup.py): in a space where repeats can
/// happen (every dimension categorical or quantized), a point already generated
/// is replaced by the next unused point of a grid walk; nullopt once every
/// point has been generated. Spaces with a continuous dimension pass unchanged.
class Deduplicator {
 public:
  explicit Deduplicator(const SearchSpace& space);
  /// `point` when new, else a replacement (second = true), else nullopt.
  std::optional<std::pair<Point, bool>> operator()(const Point& point);
  /// Marks parameters (NNI's shape) as generated.
  void add_history(const nlohmann::json& parameters);

 private:
  bool not_dup(const Point& point);
  const SearchSpace* space_;
  bool never_dup_;
  std::set<std::string> history_;
  std::unique_ptr<GridWalker> grid_;
};

/// The canonical text of a parameter set (sorted keys), for history sets.
std::string canonical(const nlohmann::json& parameters);

// The registry entries of the embedded tuners (tuner_registry.cpp lists them), each
// defined in its algorithm's source.
TunerEntry tpe_entry();
TunerEntry random_entry();
TunerEntry grid_search_entry();
TunerEntry evolution_entry();
TunerEntry hyperband_entry();
TunerEntry bohb_entry();
TunerEntry asha_entry();

/// ASHA's rung budgets for max budget R, reduction factor eta and minimum budget:
/// R / eta^(K-k) for k = 0..K, K = floor(log_eta(R / min_budget)).
std::vector<double> asha_budgets(double max_budget, double eta, double min_budget);
/// Hyperband's number of brackets less one: floor(log_eta(R)) (NNI's s_max).
int hyperband_s_max(int max_budget, int eta);

}  // namespace nnilib::tuner_detail
