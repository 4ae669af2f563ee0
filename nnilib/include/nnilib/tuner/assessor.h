// The embedded NNI assessor: Medianstop (early stopping on intermediate
// results), a re-implementation of NNI 3.0's medianstop_assessor.py. Free of
// LibTorch. The rule is documented in docs/runner.md.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/tuner/tuner.h"

namespace nnilib {

/// An assessor's verdict on a running trial: keep it, or stop it early.
enum class AssessResult { kGood, kBad };

/// NNI's Assessor interface. Not thread-safe: the caller serializes the calls.
class Assessor {
 public:
  virtual ~Assessor();
  /// The assessor's NNI name ("Medianstop").
  virtual std::string name() const = 0;
  /// Whether it takes larger results as better (its classArgs' optimize_mode), if it says.
  virtual std::optional<OptimizeMode> optimize_mode() const;
  /// Judges trial `trial_id` from all its intermediate results so far
  /// (`history[k]` = the (k+1)-th report's `default` value).
  virtual AssessResult assess_trial(const std::string& trial_id,
                                    const std::vector<double>& history) = 0;
  /// The trial ended; `succeeded` is true when it finished normally.
  virtual void trial_end(const std::string& trial_id, bool succeeded) = 0;
};

/// NNI's median stopping rule: at step S >= start_step, a trial is Bad when its
/// best intermediate result so far is strictly worse than the median, over the
/// trials that succeeded, of their running averages at step S. Good when no
/// succeeded trial reached step S.
class MedianstopAssessor : public Assessor {
 public:
  explicit MedianstopAssessor(OptimizeMode mode = OptimizeMode::kMaximize, int start_step = 0);
  std::string name() const override { return "Medianstop"; }
  std::optional<OptimizeMode> optimize_mode() const override {
    return high_better_ ? OptimizeMode::kMaximize : OptimizeMode::kMinimize;
  }
  AssessResult assess_trial(const std::string& trial_id,
                            const std::vector<double>& history) override;
  void trial_end(const std::string& trial_id, bool succeeded) override;

 private:
  bool high_better_;
  std::size_t start_step_;
  std::map<std::string, std::vector<double>> running_;    // trial -> results seen so far
  std::map<std::string, std::vector<double>> completed_;  // trial -> running averages
};

/// Which way trials rank under `tuner` and `assessor` (may be null): the tuner's
/// optimize_mode() (its classArgs, any case, else its default: TPE minimizes), else the
/// assessor's, else maximize (Random and GridSearch without optimize_mode).
OptimizeMode ranking_mode(const Tuner& tuner, const Assessor* assessor);

/// Builds the assessor NNI calls `name` (case-insensitive: Medianstop) with
/// NNI's `classArgs` (object or null). Throws ParamError naming the assessor
/// and the argument for an unknown name, unknown key or ill-typed value.
std::unique_ptr<Assessor> make_assessor(const std::string& name, const nlohmann::json& class_args);

}  // namespace nnilib
