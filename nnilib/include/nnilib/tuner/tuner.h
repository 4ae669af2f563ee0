// NNI's Tuner interface. The embedded tuners (tuner_registry.h) re-implement NNI
// 3.0's algorithms (nni/algorithms/hpo: TPE, Random, GridSearch, Evolution, Hyperband,
// BOHB) over the search-space language of space.h, plus ASHA (asynchronous successive
// halving with promotion from checkpoints), this project's own. Free of LibTorch and
// of Python. Their classArgs and defaults are documented in docs/runner.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/space/space.h"

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

  /// The tuner's NNI name ("TPE", "Random", "GridSearch", "Evolution", ...).
  virtual std::string name() const = 0;

  /// Whether it looks for the largest or the smallest result, as its classArgs say
  /// (NNI's defaults: TPE minimize, the others maximize); std::nullopt for a tuner that
  /// results do not steer and whose classArgs do not say (Random, GridSearch). The
  /// runner ranks trials by it, else by the assessor's, else maximizing.
  virtual std::optional<OptimizeMode> optimize_mode() const;

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

}  // namespace nnilib
