// The final training after a search (fmnist-nas --final-train): the chosen
// configuration (final_candidate) retrained by fmnist-trial on every training image
// and tested once, inside maxExperimentDuration. During the search its estimate is the
// runner's reserve (RunnerOptions::final_reserve_s); afterwards it runs with a time
// limit of whatever the search left, and fits its epochs to it. Documented in
// docs/runner.md "The final training".
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/runner.h"

namespace nnilib {

/// How the final training runs.
struct FinalTrainingOptions {
  /// The fmnist-trial executable.
  std::string trial_binary;
  /// The epochs the reserve is sized for; 0: as many as the chosen trial trained.
  int epochs = 30;
  /// The most it trains when the search leaves more time than `epochs` need (0: `epochs`).
  int max_epochs = 60;
  /// Models trained side by side, each on cores / models threads; the test figure
  /// averages their class probabilities (an ensemble). 1: the best configuration alone,
  /// on every core.
  int models = 2;
  /// What the models of an ensemble are: "seeds" (the best configuration, seeds 1 ..
  /// models) or "configurations" (the best `models` distinct ones, final_candidates).
  std::string ensemble = "seeds";
  /// Test-time augmentation of the test: "flip", "none", or "auto" (flip when the
  /// configuration trained on mirrored images).
  std::string tta = "auto";
  /// Weight averaging: the time constant in epochs of the averaged weights each model
  /// evaluates and saves (fmnist-trial --ema-epochs); 0: none.
  double ema_epochs = 0;
  /// More arguments for fmnist-trial (fmnist-nas --final-arg); they win over the ones
  /// derived here (--threads, --precision, --tta, --ema-epochs, --time-limit).
  std::vector<std::string> extra_args;
  /// Stop signals received so far (polled): the first one stops the training (SIGINT),
  /// a second kills it.
  std::function<int()> signals;
};

/// The parameters the final training trains: the trial's, without TRIAL_BUDGET, for
/// `epochs` (0: as many as the trial trained, a fractional budget rounded up).
nlohmann::json final_training_parameters(const nlohmann::json& trial_parameters, int epochs);

/// The threads of each model of the final training: its --threads (an extra argument,
/// given to each model), else $OMP_NUM_THREADS or every core this process may use,
/// shared by the models (at least 1 each).
int final_training_threads(const FinalTrainingOptions& options);

/// The accuracy of the average of several models' class probabilities on `split`
/// ("validation" or "test") of their predictions files (fmnist-trial --predictions).
/// Throws IoError naming a file that is missing, damaged, or of other images.
double ensemble_accuracy(const std::vector<std::string>& prediction_files,
                         const std::string& split);

/// The seconds the final training of a trial is expected to take: the trial's fastest
/// training speed (its least disturbed epoch, from its summary.json, divided by the
/// share of its cores that epoch got: cpu_share, 0.25-1) scaled to every
/// training image and to the final training's threads (kThreadEfficiency per extra
/// thread), for FinalTrainingOptions::epochs, plus its test and kStartSeconds. Without
/// a summary (a trial that is not fmnist-trial): its wall time per reported result per
/// epoch. Worked out once per trial.
class FinalTrainingEstimate {
 public:
  /// The share of a linear speed-up each thread beyond the trial's adds (measured:
  /// docs/benchmarks.md "The allocator": 1.62-1.64x for 2 threads on AMD Zen 5).
  static constexpr double kThreadEfficiency = 0.6;
  /// Process start, data loading and saving.
  static constexpr double kStartSeconds = 20;

  FinalTrainingEstimate(FinalTrainingOptions options, std::string experiment_dir);
  double operator()(const TrialRecord& trial);

 private:
  double seconds_of(const TrialRecord& trial) const;
  FinalTrainingOptions options_;
  std::string dir_;
  std::vector<std::pair<std::string, double>> cache_;  // trial id -> seconds
};

/// Runs the final training of `result`'s final_candidates: the first model in the
/// experiment directory's final/ (params.json, progress.json, summary.json, model.pt,
/// predictions.json), the others in final/m2/, final/m3/ ..., side by side; with more
/// than one, final/ensemble.json holds the ensemble's test accuracy. Watched from the
/// dashboard (its "stop" stops it). `time_left_s` > 0: fmnist-trial --time-limit, so
/// that it ends inside maxExperimentDuration, training up to max_epochs. Prints what it
/// does and the test accuracy; returns 0 (when at least one model ended with a result),
/// fmnist-trial's exit code, or kParams when no trial has a result. Throws UsageError
/// for a missing trial binary, IoError for a summary without a test accuracy.
int run_final_training(const FinalTrainingOptions& options, const RunResult& result,
                       const std::string& experiment_dir, double time_left_s);

}  // namespace nnilib
