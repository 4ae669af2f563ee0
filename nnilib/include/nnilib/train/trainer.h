// Training and evaluating a TrialSpec on Fashion-MNIST (no torch in this header).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/data/dataset_options.h"
#include "nnilib/model/model_spec.h"
#include "nnilib/model/params.h"
#include "nnilib/train/precision.h"

namespace nnilib {

struct Dataset;  // data.h (torch)

/// Performance switches of the training loop. The defaults are the fastest measured
/// on CPU (docs/benchmarks.md says what each one buys); results do not depend on them
/// beyond floating-point summation order.
struct LoopTuning {
  bool grads_to_none = true;  ///< drop gradients instead of zeroing them before each batch
  bool reuse_batch = true;    ///< gather each batch into the same preallocated tensors
  bool channels_last = true;  ///< NHWC activations and weights (oneDNN's native layout)
  bool mkldnn = true;         ///< let LibTorch use oneDNN (MKL-DNN) convolutions on CPU
};

/// How to train (everything that is not a searched parameter).
struct TrainOptions {
  std::string device = "auto";  ///< "auto" (CUDA when available), "cpu" or "cuda[:N]"
  int threads = 0;              ///< intra-op threads; 0 = $OMP_NUM_THREADS, else all cores
  uint64_t seed = 1;            ///< model initialisation and shuffling
  /// Images per evaluation batch: 256 keeps a batch's activations in the cache-friendly
  /// range (docs/benchmarks.md "The allocator"); larger ones ran slower.
  int64_t eval_batch_size = 256;
  /// fp32, bf16 (autocast: float32 weights, optimizer state, loss and metrics), or
  /// auto: bf16 only where this machine runs it faster (precision.h).
  Precision precision = Precision::kAuto;
  bool evaluate_test = true;  ///< evaluate the test split after the last epoch
  /// Test-time augmentation: every evaluation (validation and test) averages the class
  /// probabilities of each image and its mirror image. Training is unchanged.
  bool flip_tta = false;
  /// Weight averaging: 0 = none, else the time constant, in epochs, of an exponential
  /// moving average of the weights (and batch-norm statistics) taken after every step:
  /// its decay per step is 1 - 1 / (ema_epochs x steps per epoch), whatever the batch
  /// size. The averaged weights are what every evaluation measures and what is saved;
  /// the final validation and the test are also measured without them.
  double ema_epochs = 0;
  std::string weights_path;  ///< save the final weights here ("" = do not save)
  /// Write the class probabilities of every validation and test image here at the end
  /// ("" = do not), as JSON: {"validation"|"test": {"labels": [...], "probabilities":
  /// [[p0..pC-1], ...]}} (with flip TTA, the averaged ones): what an ensemble of models
  /// averages (ensemble.h).
  std::string predictions_path;
  /// Write a resumable checkpoint here at the end of every epoch, and where a budget
  /// ends inside an epoch ("" = none): weights, optimizer state, schedule position, the
  /// epoch's shuffle and position in it, random generators' state, the curve so far.
  std::string checkpoint_path;
  /// Continue the run saved in this checkpoint up to the spec's epochs ("" = start
  /// afresh), in the checkpoint's precision. A checkpoint of another run (other
  /// parameters, seed, split, schedule, precision) or a corrupt one is a ParamError,
  /// never a silent fresh start.
  std::string resume_from;
  /// The epochs the learning-rate schedule spans (0 = the epochs trained). A run trained
  /// in pieces (1/3, then 1, 3 and 9 epochs, each resuming the last) with the same value
  /// is the same run as one trained straight through.
  int schedule_epochs = 0;
  /// Finish by this time: training, the test evaluation and saving included. The run
  /// trains the spec's epochs, or as many as fit at the speed it measures (at most the
  /// spec's), and its schedule spans what it trains: planned after the first batches,
  /// again after each of the first two epochs, and shortened later if the machine slows
  /// down. Not with resume_from or schedule_epochs.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  LoopTuning tuning;
};

/// Figures of one finished epoch. The validation figures are 0 when the run has no
/// validation split (TrainStart::val_size == 0).
struct EpochStats {
  int epoch = 0;  ///< 1-based
  /// Epochs trained when these figures were taken: `epoch`, or less where a budget
  /// ended inside it (2.333: a third of epoch 3).
  double epochs_done = 0;
  double train_loss = 0;
  double train_accuracy = 0;
  double val_loss = 0;
  double val_accuracy = 0;
  double images_per_second = 0;       ///< training throughput of this epoch
  double eval_images_per_second = 0;  ///< validation throughput of this epoch
  double epoch_seconds = 0;           ///< training + validation time of this epoch
  /// The CPU time the process got while training this epoch over its wall time x its
  /// threads: about 1 on a quiet machine, lower when other work took the cores (what
  /// the final training's estimate corrects for); 0 = not measured (on a GPU).
  double cpu_share = 0;
  double elapsed_seconds = 0;  ///< since training started
};

/// Facts known once the model is built, before the first batch.
struct TrainStart {
  std::string dataset;  ///< its name (dataset.h)
  std::string device;
  int threads = 0;
  std::string precision;         ///< what runs: "fp32" or "bf16"
  std::string precision_reason;  ///< why, e.g. "auto: AMX-BF16 matrix units"
  int64_t train_size = 0;
  int64_t val_size = 0;
  int64_t test_size = 0;
  CostEstimate cost;
  std::string architecture;
  bool flip_tta = false;  ///< TrainOptions::flip_tta
  double ema_epochs = 0;  ///< TrainOptions::ema_epochs
};

/// Where training is inside an epoch, after a batch.
struct BatchProgress {
  int epoch = 0;                 ///< 1-based
  int epochs = 0;                ///< of this run
  int64_t batch = 0;             ///< batches of the epoch done (an earlier piece's included)
  int64_t batches = 0;           ///< of an epoch
  int64_t batches_this_run = 0;  ///< of `batch`, those this run trained
  int64_t images = 0;            ///< trained in this epoch by this run
  double epoch_seconds = 0;      ///< since this epoch began
  int64_t steps_left = 0;        ///< batches until this run ends
};

/// Receives progress. stop_requested() is asked before every batch, and also while the
/// data loads (every 16 MiB and file) and before each step of the precision probe, so a
/// stop during start-up acts there (throwing Interrupted) rather than after it.
/// on_epoch() is called for the epochs trained in this run (not for resumed ones).
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_start(const TrainStart&) {}
  virtual void on_epoch(const EpochStats&) {}
  /// After every training batch (keep it cheap: throttle what it writes).
  virtual void on_batch(const BatchProgress&) {}
  virtual bool stop_requested() { return false; }
};

/// The outcome of a training run.
struct TrainResult {
  TrainStart start;
  int resumed_epochs = 0;         ///< epochs that came from TrainOptions::resume_from
  std::vector<EpochStats> curve;  ///< every epoch, resumed ones included
  double final_val_accuracy = 0;
  double final_val_loss = 0;
  double best_val_accuracy = 0;
  int best_epoch = 0;
  double test_accuracy = -1;  ///< -1 when not evaluated
  /// With TrainOptions::flip_tta: the test accuracy without it (-1 otherwise).
  double test_accuracy_without_tta = -1;
  /// With TrainOptions::ema_epochs: the average's decay per step, and the final
  /// validation and test accuracy of the last weights instead of their average (the
  /// same test-time augmentation; -1 otherwise or without that split).
  double ema_decay = 0;
  double val_accuracy_without_ema = -1;
  double test_accuracy_without_ema = -1;
  double test_loss = -1;
  double seconds = 0;        ///< wall time of training and evaluation
  bool interrupted = false;  ///< stopped by stop_requested() before the end
  /// With TrainOptions::deadline: the epochs the run planned at first (the spec's) and
  /// those it trained to fit the deadline (0 without a deadline).
  int planned_epochs = 0;
  double fitted_epochs = 0;
};

/// The learning rate of training step `step` (0-based) out of `total_steps` under
/// h.schedule, peaking at h.learning_rate.
double scheduled_learning_rate(const Hyperparameters& h, int64_t step, int64_t total_steps);

/// The thread count a run uses: `requested` if > 0, else $OMP_NUM_THREADS, else all cores.
int resolve_threads(int requested);

/// Trains `spec` on `data` (see data.h). Throws DivergedError when the loss
/// becomes NaN or infinite (checked every few batches and at the end of each epoch),
/// UsageError for an unavailable device.
TrainResult train(const TrialSpec& spec, const Dataset& data, const TrainOptions& options,
                  TrainObserver& observer);

/// Loads the data set described by `data` and trains on it.
TrainResult train(const TrialSpec& spec, const DataOptions& data, const TrainOptions& options,
                  TrainObserver& observer);

/// Evaluates saved weights (TrainOptions::weights_path of an earlier run of the same
/// spec) on the validation and test splits of `data`, without training: the result
/// has no curve, its final_val_* and test_* hold the figures. Throws ParamError naming
/// the file when it is missing or holds weights of another architecture.
TrainResult evaluate_weights(const TrialSpec& spec, const Dataset& data,
                             const TrainOptions& options, const std::string& weights_path,
                             TrainObserver& observer);

/// Loads the data set described by `data` and evaluates the weights on it.
TrainResult evaluate_weights(const TrialSpec& spec, const DataOptions& data,
                             const TrainOptions& options, const std::string& weights_path,
                             TrainObserver& observer);

/// "epoch  3/10  train_loss 0.3012  train_acc 0.8912  val_loss ...  val_acc 0.9011  2150
/// img/s  61.2 s"
std::string format_epoch(const EpochStats& e, int epochs);

/// The JSON summary of a run: parameters, curve, accuracies, cost, wall time.
nlohmann::json summary_json(const TrialSpec& spec, const TrainResult& result);

}  // namespace nnilib
