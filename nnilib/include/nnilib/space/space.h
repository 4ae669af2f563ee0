// The NNI search-space language (search_space.json): parse and validate, sample
// with NNI's semantics, enumerate grids, describe. Free of LibTorch; the
// building block of the embedded tuners (Random, GridSearch, TPE, Evolution).
// The language is documented in docs/search-space.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace nnilib {

/// The ten NNI parameter types (the "_type" of a parameter).
enum class SpaceType {
  kChoice,
  kRandint,
  kUniform,
  kQuniform,
  kLoguniform,
  kQloguniform,
  kNormal,
  kQnormal,
  kLognormal,
  kQlognormal,
};

/// The "_type" spelling of `type`, e.g. "qloguniform".
const char* to_string(SpaceType type);
/// The type spelled `name` ("choice", "randint", ...); std::nullopt when unknown.
std::optional<SpaceType> space_type_from_string(std::string_view name);

/// The seeded random source of sampling and of the tuners. Built on
/// std::mt19937_64 (fully specified by the C++ standard) with its own
/// uniform/normal/integer transforms instead of the implementation-defined
/// std::*_distribution, so a seed gives the same stream on every run and every
/// standard library; values that go through std::exp/std::log/std::cos may
/// differ in the last bit between math libraries.
class SpaceRng {
 public:
  explicit SpaceRng(std::uint64_t seed) : engine_(seed) {}
  /// 64 raw random bits.
  std::uint64_t bits() { return engine_(); }
  /// Uniform in [0, 1), 53 random bits.
  double uniform01();
  /// Uniform in [a, b] (b itself only through rounding); safe for any finite a <= b.
  double uniform(double a, double b);
  /// Uniform integer in [0, n), without modulo bias; n must be > 0.
  std::uint64_t below(std::uint64_t n);
  /// Standard normal N(0, 1) (Box-Muller, two uniforms per call, no cached state).
  double normal();

 private:
  std::mt19937_64 engine_;
};

/// A point of a search space in tuner form: one slot per dimension, indexed
/// like SearchSpace::dimensions(); std::nullopt for a dimension that is
/// inactive (it belongs to an option of a nested choice that is not chosen).
/// A slot holds: choice - the option index (0-based); randint - the integer;
/// every other type - the final value (quantized and clipped where the type
/// says so). SearchSpace::to_parameters() turns a point into NNI's shape.
using Point = std::vector<std::optional<double>>;

/// One option of a choice.
struct ChoiceOption {
  /// A plain option as written (number, string or boolean); for a nested
  /// option, its "_name" (a string).
  nlohmann::json value;
  /// True for an object {"_name": ..., <sub-parameters>}.
  bool nested = false;
  /// Nested options: indices into SearchSpace::dimensions() of the
  /// sub-space's own parameters (its top level only), in space order.
  std::vector<std::size_t> children;
};

/// One leaf dimension of a search space: a parameter of the top level or of
/// a nested choice's option. Bounds are validated (see docs/search-space.md).
struct Dimension {
  std::string name;              ///< its key in its (sub-)space, e.g. "conv"
  std::string label;             ///< unique path for messages, e.g. "block[resnet]/conv"
  std::vector<std::string> key;  ///< where its value goes in the parameters: {"block", "conv"}
  SpaceType type = SpaceType::kChoice;
  nlohmann::json spec_value;  ///< "_value" as written

  double low = 0;                     ///< uniform family: low; randint: lower (as a double)
  double high = 0;                    ///< uniform family: high; randint: upper (exclusive)
  std::int64_t lower = 0;             ///< randint: lower (inclusive)
  std::int64_t upper = 0;             ///< randint: upper (exclusive)
  double mu = 0;                      ///< normal family
  double sigma = 0;                   ///< normal family
  double q = 0;                       ///< quantization step of the q-types; 0 otherwise
  std::vector<ChoiceOption> options;  ///< choice only

  /// The choice dimension one of whose options holds this one (nullopt at the top level).
  std::optional<std::size_t> parent;
  std::size_t parent_option = 0;  ///< index of that option in the parent's options
  std::size_t depth = 0;          ///< 0 at the top level, +1 per nested choice

  /// choice (unordered; slot = option index).
  bool categorical() const { return type == SpaceType::kChoice; }
  /// A choice whose options are nested sub-spaces.
  bool nested() const { return !options.empty() && options.front().nested; }
  /// loguniform, qloguniform, lognormal, qlognormal.
  bool log_scale() const;
  /// normal, qnormal, lognormal, qlognormal (unbounded).
  bool normal_distributed() const;
  /// The q-types (value is a multiple of q, or a clipped bound).
  bool quantized() const { return q > 0; }
  /// choice, randint, quniform, qloguniform: finitely many values.
  bool finite() const;
  /// Number of distinct slot values of a finite dimension (saturates at
  /// UINT64_MAX), 0 for an infinite one. Nested options count once each here.
  std::uint64_t cardinality() const;
  /// The k-th slot value of a finite dimension in ascending order (choice: k).
  /// Throws ParamError when the dimension is infinite or k >= cardinality().
  double grid_slot(std::uint64_t k) const;
  /// Finishes a raw draw the way NNI does: q-types round(x/q)*q (ties to even,
  /// like numpy), then clip to [low, high] for the bounded types. Identity
  /// for normal and lognormal; choice and randint slots pass unchanged.
  double snap(double x) const;
  /// One random slot value, NNI's distribution for this type.
  double sample(SpaceRng& rng) const;
  /// The value NNI hands to a trial for `slot`: choice - the option as written
  /// (nested: just {"_name": ...}); randint - an integer; the rest - a float.
  nlohmann::json to_json(double slot) const;
  /// Values or bounds in words, e.g. "3 options: 32, 64, 128" or "[0.0001, 0.1], log scale".
  std::string describe() const;
};

/// Size of a grid: finite or not, and the number of points (saturating).
struct GridSize {
  bool finite = true;       ///< false when any dimension is continuous or unbounded
  bool saturated = false;   ///< the count exceeds UINT64_MAX (count is then UINT64_MAX)
  std::uint64_t count = 1;  ///< number of points when finite and not saturated
  /// "108", "more than 18446744073709551615" or "infinite".
  std::string to_string() const;
};

/// How deep choices may nest (a choice inside an option of a choice is depth 1).
/// Real spaces use 2-3; the bound keeps a hostile file's cost linear in its size.
constexpr std::size_t kMaxChoiceNesting = 16;

/// A validated NNI search space. Dimensions are listed depth-first in space
/// order (a choice before the parameters of its options); the order of keys
/// is the file's for load() and parse(ordered_json), and nlohmann::json's
/// sorted key order for parse(json).
class SearchSpace {
 public:
  /// The empty space (one point: {}).
  SearchSpace() = default;

  /// Validates and builds a space; throws ParamError naming the JSON path and the rule.
  static SearchSpace parse(const nlohmann::json& space);
  /// Same, keeping the keys' order as written.
  static SearchSpace parse(const nlohmann::ordered_json& space);
  /// Reads a search_space.json file, keeping its key order. Throws ParamError
  /// for a missing/unreadable file, invalid JSON (with line and column),
  /// duplicate keys, or an invalid space.
  static SearchSpace load(const std::string& path);

  /// Every dimension, nested ones included, depth-first.
  const std::vector<Dimension>& dimensions() const { return dims_; }
  /// Indices of the top-level dimensions, in space order.
  const std::vector<std::size_t>& roots() const { return roots_; }
  /// Index of the dimension labelled `label` ("lr", "block[resnet]/conv").
  std::optional<std::size_t> find(std::string_view label) const;

  /// True when every choice above dimension `dim` has chosen the option that holds it in `point`.
  bool active(std::size_t dim, const Point& point) const;

  /// A random point: every active dimension sampled, the others nullopt.
  Point sample_point(SpaceRng& rng) const;
  /// A random parameter set in NNI's shape, e.g. {"lr": 0.01, "block": {"_name": "resnet", "conv":
  /// 3}}.
  nlohmann::json sample(SpaceRng& rng) const { return to_parameters(sample_point(rng)); }
  /// Resamples dimension `dim` of `point` and, for a nested choice, samples the
  /// parameters of the newly chosen option and clears those of the others (the
  /// step of random search and of evolution's mutation).
  void sample_into(std::size_t dim, SpaceRng& rng, Point& point) const;

  /// A point in NNI's parameter shape. Throws ParamError when an active
  /// dimension has no slot or a slot is out of range.
  nlohmann::json to_parameters(const Point& point) const;
  /// The point of a parameter set in NNI's shape (e.g. what a trial received).
  /// Throws ParamError for missing/unknown keys, unknown options and values out of bounds.
  Point from_parameters(const nlohmann::json& parameters) const;

  /// Number of grid points: choices (nested ones expanded), randint, quniform
  /// and qloguniform are finite; any other type makes the grid infinite.
  GridSize grid_size() const;
  /// The index-th grid point, 0 <= index < grid_size().count. Order: the first
  /// dimension varies slowest (like nested loops in space order), values
  /// ascending, a nested choice's option followed by all points of its sub-space.
  /// Throws ParamError for an infinite or saturated grid or an index out of range.
  Point grid_point(std::uint64_t index) const;
  /// grid_point(index) in NNI's parameter shape.
  nlohmann::json grid_parameters(std::uint64_t index) const {
    return to_parameters(grid_point(index));
  }

  /// One line per dimension: label, type, values or bounds, columns aligned;
  /// e.g. "learning_rate  loguniform  [0.0001, 0.1], log scale".
  std::string summary() const;

 private:
  friend class SpaceParser;
  std::vector<Dimension> dims_;
  std::vector<std::size_t> roots_;
};

}  // namespace nnilib
