// The embedded NNI tuners: Random, GridSearch, TPE and Evolution, each a
// re-implementation of NNI 3.0's algorithm (nni/algorithms/hpo) over the
// search-space language of space.h, and ASHA (asynchronous successive halving with
// promotion from checkpoints), this project's own. Free of LibTorch and of Python. The
// tuners, their classArgs and their defaults are documented in docs/runner.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/space.h"

namespace nnilib {

/// Whether a tuner or assessor looks for the largest or the smallest metric.
enum class OptimizeMode { kMaximize, kMinimize };

/// One finished trial from an earlier run, replayed into a new tuner (resume).
struct ImportedTrial {
  nlohmann::json parameters;  ///< what the trial received, in NNI's shape
  double value = 0;           ///< its final `default` metric
};

/// A hyper-parameter tuner, NNI's Tuner interface. Not thread-safe: the
/// caller serializes the calls. Every tuner accepts several
/// generate_parameters() calls before any result arrives (trialConcurrency > 1).
class Tuner {
 public:
  virtual ~Tuner();

  /// The tuner's NNI name ("TPE", "Random", "GridSearch", "Evolution").
  virtual std::string name() const = 0;

  /// Parameters for a new trial (NNI's shape, nested choices as objects with
  /// "_name"), or std::nullopt when the tuner has nothing to give now: when
  /// exhausted() says so, nothing more ever (the grid is done, every point of a finite
  /// space was generated); otherwise it waits for trials to end (Hyperband's serial
  /// mode) and is asked again.
  virtual std::optional<nlohmann::json> generate_parameters(std::int64_t parameter_id) = 0;

  /// Whether a std::nullopt from generate_parameters() is final. Default: true.
  virtual bool exhausted() const;

  /// The parameter id the trial receives and echoes for the runner's `parameter_id`
  /// (the runner always calls the tuner with its own integer ids). Default: the same
  /// integer; Hyperband answers NNI's strings ("0-3_1_7").
  virtual nlohmann::json wire_parameter_id(std::int64_t parameter_id) const;

  /// The final result (the `default` metric) of a trial. `parameter_id` is
  /// normally one this tuner generated; an unknown id is taken as a result from
  /// elsewhere and read from `parameters`. A non-finite value counts as a
  /// failed trial (trial_end(parameter_id, false)).
  virtual void receive_trial_result(std::int64_t parameter_id, const nlohmann::json& parameters,
                                    double value) = 0;

  /// A trial ended, with or without a result. NNI calls it for every trial,
  /// after receive_trial_result() when there was one. Default: nothing.
  virtual void trial_end(std::int64_t parameter_id, bool succeeded);

  /// Replays results of earlier trials (resume). Default: receive_trial_result()
  /// for each, with parameter ids -1, -2, ... (ids this tuner never generates).
  virtual void import_data(const std::vector<ImportedTrial>& trials);

  /// For a multi-fidelity tuner whose trials continue one another (ASHA): the largest
  /// TRIAL_BUDGET it gives. The runner then asks each trial for a checkpoint and a
  /// learning-rate schedule over this budget, and starts a trial whose parameters equal
  /// an earlier successful trial's but for a larger TRIAL_BUDGET from that trial's
  /// checkpoint (trainer.h, kCheckpointEnv). 0 (the default): every trial starts afresh.
  virtual double continued_budget() const;
};

/// Builds the tuner NNI calls `name` (case-insensitive: Random, GridSearch,
/// TPE, Evolution) with NNI's `classArgs` (a JSON object, or null for none).
/// `seed` seeds the tuner's random source unless classArgs has its own
/// `seed`; the same seed and the same calls give the same parameters.
/// Throws ParamError naming the tuner and the argument, and what is accepted,
/// for an unknown name, an unknown classArgs key or an ill-typed value.
std::unique_ptr<Tuner> make_tuner(const std::string& name, const nlohmann::json& class_args,
                                  const SearchSpace& space, std::uint64_t seed);

/// The tuner names make_tuner() accepts, in NNI's spelling.
const std::vector<std::string>& embedded_tuner_names();

}  // namespace nnilib
