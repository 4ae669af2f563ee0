#include "nnilib/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <thread>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/trial_budget.h"
#include "nnilib/data/data.h"
#include "nnilib/model/model.h"
#include "nnilib/train/allocator.h"
#include "train/augment.h"
#include "train/autocast.h"
#include "train/checkpoint.h"
#include "train/weight_average.h"

namespace nnilib {
namespace {

using Clock = std::chrono::steady_clock;

// Batches between two reads of the accumulated loss (the divergence check).
constexpr int64_t kDivergenceCheck = 16;

// CPU time of this process, all threads (POSIX); 0 where the clock is missing.
double process_cpu_seconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

torch::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  if (name == "cpu") return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw UsageError("--device " + name + ": CUDA is not available (this LibTorch build has " +
                       "no CUDA support or no GPU is visible); use --device cpu or auto");
    }
    try {
      return torch::Device(name);
    } catch (const c10::Error&) {
      throw UsageError("--device " + name +
                       ": not a valid device (expected auto, cpu, cuda or cuda:N)");
    }
  }
  throw UsageError("--device " + name + ": unknown device (expected auto, cpu, cuda or cuda:N)");
}

struct Evaluation {
  double loss = 0;
  double accuracy = 0;
  bool interrupted = false;
};

// Whole-split evaluation in large batches, without autograd bookkeeping. Polls the
// observer between batches so that a signal is honoured within one batch. With
// `flip`, each image's class probabilities are the mean of the image's and its mirror
// image's (test-time augmentation); the loss is then -log of that mean.
Evaluation evaluate(Cnn& model, const Split& split, int64_t batch_size, bool channels_last,
                    bool bf16, bool flip, TrainObserver& observer,
                    std::vector<torch::Tensor>* probabilities = nullptr) {
  torch::InferenceMode guard;
  // One scope for the whole split: the weights are cast to bf16 once, not per batch.
  AutocastScope autocast(bf16, split.images.device(), at::kBFloat16);
  model->eval();
  torch::Tensor loss_sum = torch::zeros({}, split.images.options());
  torch::Tensor correct = torch::zeros({}, split.labels.options());
  const int64_t n = split.size();
  Evaluation result;
  for (int64_t i = 0; i < n; i += batch_size) {
    if (observer.stop_requested()) {
      result.interrupted = true;
      break;
    }
    const int64_t len = std::min(batch_size, n - i);
    torch::Tensor x = split.images.narrow(0, i, len);
    if (channels_last) x = to_nhwc(x);
    torch::Tensor y = split.labels.narrow(0, i, len);
    // Loss and accuracy in float32 whatever the precision of the forward pass.
    torch::Tensor logits = model->forward(x).to(torch::kFloat);
    if (flip) {
      // The mirror image: width is dimension 3 in either memory format.
      torch::Tensor mirrored = model->forward(x.flip({3})).to(torch::kFloat);
      // log((softmax(a) + softmax(b)) / 2): log-probabilities, which cross_entropy's
      // log_softmax below leaves as they are.
      logits =
          torch::logsumexp(
              torch::stack({torch::log_softmax(logits, 1), torch::log_softmax(mirrored, 1)}), 0) -
          std::log(2.0);
    }
    loss_sum += torch::nn::functional::cross_entropy(
        logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    correct += logits.argmax(1).eq(y).sum();
    if (probabilities != nullptr)
      probabilities->push_back(torch::softmax(logits, 1).to(torch::kCPU));
  }
  model->train();
  if (n > 0 && !result.interrupted) {
    result.loss = loss_sum.item<double>() / static_cast<double>(n);
    result.accuracy = static_cast<double>(correct.item<int64_t>()) / static_cast<double>(n);
  }
  return result;
}

// The class probabilities of a split's images (one row each, in split order) with their
// labels, as JSON.
nlohmann::json predictions_json(const std::vector<torch::Tensor>& batches, const Split& split) {
  const torch::Tensor p = torch::cat(batches).contiguous();
  const torch::Tensor labels = split.labels.to(torch::kCPU).to(torch::kLong).contiguous();
  nlohmann::json rows = nlohmann::json::array();
  const float* data = p.data_ptr<float>();
  for (int64_t i = 0; i < p.size(0); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t c = 0; c < p.size(1); ++c) row.push_back(data[i * p.size(1) + c]);
    rows.push_back(std::move(row));
  }
  const int64_t* l = labels.data_ptr<int64_t>();
  return {{"labels", std::vector<int64_t>(l, l + labels.numel())}, {"probabilities", rows}};
}

// Writes TrainOptions::predictions_path: each split's class probabilities.
void save_predictions(const std::string& path, const nlohmann::json& splits, bool flip) {
  nlohmann::json j = splits;
  j["format"] = "nnilib-predictions-1";
  j["test_time_augmentation"] = flip ? "flip" : "none";
  write_file_atomically(path, j.dump() + "\n", "the predictions");
}

// Serialises to memory first: LibTorch's file writer throws from its destructor
// when the disk fills up mid-write, which would abort the process.
void save_weights(Cnn& model, const std::string& path) {
  std::ostringstream bytes;
  torch::serialize::OutputArchive archive;
  model->to(torch::kCPU);
  model->save(archive);
  archive.save_to(bytes);
  write_file_atomically(path, bytes.str(), "the model weights");
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const Hyperparameters& h) {
  switch (h.optimizer) {
    case Optimizer::kAdam:
      return std::make_unique<torch::optim::Adam>(
          params, torch::optim::AdamOptions(h.learning_rate).weight_decay(h.weight_decay));
    case Optimizer::kAdamW:
      return std::make_unique<torch::optim::AdamW>(
          params, torch::optim::AdamWOptions(h.learning_rate).weight_decay(h.weight_decay));
    case Optimizer::kSgd:
      return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(h.learning_rate)
                                                             .momentum(h.momentum)
                                                             .nesterov(h.momentum > 0)
                                                             .weight_decay(h.weight_decay));
  }
  throw std::logic_error("unknown optimizer");
}

struct ResolvedPrecision {
  bool bf16 = false;
  std::string reason;
};

// The precision rule of precision.h on CPU; on CUDA, auto is measured (bf16 where the
// GPU runs it and it is faster). Runs before the model is seeded: the probe draws
// random numbers.
ResolvedPrecision resolve_precision(const TrialSpec& spec, Precision requested,
                                    const torch::Device& device, bool mkldnn,
                                    const std::string& resume_from,
                                    const std::function<bool()>& stop) {
  // A continued run keeps the precision it started in (a promotion must train on as a
  // straight run would); one explicitly asked for must be the checkpoint's (the
  // checkpoint's identity says so when they differ).
  if (!resume_from.empty() && requested == Precision::kAuto) {
    if (const auto p = checkpoint_precision(resume_from); p == "bf16" || p == "fp32")
      return {*p == "bf16", "auto: as the checkpoint it continues"};
  }
  const auto probed = [&](const std::string& why) {
    const PrecisionProbe p = probe_precision(spec.model, device.str(), spec.hyper.batch_size, stop);
    char line[160];
    if (!p.bf16_works) {
      std::snprintf(line, sizeof line, "%s: bf16 does not run on %s", why.c_str(),
                    device.str().c_str());
    } else {
      std::snprintf(line, sizeof line,
                    "%s: probe %.1f ms per bf16 step vs %.1f ms fp32 (batch %d, best of %d; "
                    "%.1f s)",
                    why.c_str(), p.bf16_ms, p.fp32_ms, spec.hyper.batch_size, p.pairs,
                    p.total_ms / 1000);
    }
    return ResolvedPrecision{p.bf16_faster(), std::string("auto: ") + line};
  };
  if (device.is_cuda()) {
    if (requested != Precision::kAuto) return {requested == Precision::kBf16, "requested"};
    return probed("CUDA");
  }
  const CpuFeatures cpu = detect_cpu_features();
  const PrecisionDecision d = decide_cpu_precision(requested, cpu, mkldnn && at::hasMKLDNN());
  if (!d.precision) return probed(d.reason);
  const std::string prefix = requested == Precision::kAuto ? "auto: " : "";
  return {*d.precision == Precision::kBf16, prefix + d.reason};
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace

double scheduled_learning_rate(const Hyperparameters& h, int64_t step, int64_t total_steps) {
  const double pi = 3.14159265358979323846;
  const double peak = h.learning_rate;
  if (total_steps <= 1) return peak;
  // Cosine interpolation from `from` (t = 0) to `to` (t = 1).
  const auto anneal = [pi](double from, double to, double t) {
    return to + (from - to) * 0.5 * (1 + std::cos(pi * std::clamp(t, 0.0, 1.0)));
  };
  switch (h.schedule) {
    case Schedule::kConstant:
      return peak;
    case Schedule::kCosine:
      return anneal(peak, 0.0, static_cast<double>(step) / static_cast<double>(total_steps));
    case Schedule::kOneCycle: {
      // PyTorch's OneCycleLR defaults: pct_start 0.3, div_factor 25, final_div_factor 1e4.
      const double initial = peak / 25, final_lr = initial / 1e4;
      const double warm = std::max(1.0, std::round(0.3 * static_cast<double>(total_steps)));
      const double s = static_cast<double>(step);
      if (s < warm) return anneal(initial, peak, s / warm);
      return anneal(peak, final_lr, (s - warm) / std::max(1.0, total_steps - warm));
    }
  }
  return peak;
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  // A runner sharing the cores between concurrent trials sets OMP_NUM_THREADS.
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

nlohmann::json epoch_json(const EpochStats& e) {
  return {{"epoch", e.epoch},
          {"epochs_done", e.epochs_done},
          {"train_loss", e.train_loss},
          {"train_accuracy", e.train_accuracy},
          {"val_loss", e.val_loss},
          {"val_accuracy", e.val_accuracy},
          {"images_per_second", e.images_per_second},
          {"eval_images_per_second", e.eval_images_per_second},
          {"epoch_seconds", e.epoch_seconds},
          {"elapsed_seconds", e.elapsed_seconds},
          {"cpu_share", e.cpu_share}};
}

// Appends an epoch to the curve and keeps the best validation accuracy up to date.
void add_epoch(TrainResult& result, const EpochStats& e) {
  result.curve.push_back(e);
  if (e.val_accuracy > result.best_val_accuracy || result.best_epoch == 0) {
    result.best_val_accuracy = e.val_accuracy;
    result.best_epoch = e.epoch;
  }
}

EpochStats epoch_from_json(const nlohmann::json& j) {
  EpochStats e;
  e.epoch = j.value("epoch", 0);
  e.epochs_done = j.value("epochs_done", static_cast<double>(e.epoch));
  e.train_loss = j.value("train_loss", 0.0);
  e.train_accuracy = j.value("train_accuracy", 0.0);
  e.val_loss = j.value("val_loss", 0.0);
  e.val_accuracy = j.value("val_accuracy", 0.0);
  e.images_per_second = j.value("images_per_second", 0.0);
  e.eval_images_per_second = j.value("eval_images_per_second", 0.0);
  e.epoch_seconds = j.value("epoch_seconds", 0.0);
  e.elapsed_seconds = j.value("elapsed_seconds", 0.0);
  e.cpu_share = j.value("cpu_share", 0.0);
  return e;
}

}  // namespace

namespace {

// The model must take the data set's images and give its classes.
void check_model_fits(const ModelSpec& m, const DatasetInfo& info) {
  if (m.in_channels == info.channels && m.in_height == info.height && m.in_width == info.width &&
      m.num_classes == info.classes)
    return;
  throw ParamError("the model takes " + std::to_string(m.in_channels) + "x" +
                   std::to_string(m.in_height) + "x" + std::to_string(m.in_width) + " images of " +
                   std::to_string(m.num_classes) + " classes, the data set " + info.name + " has " +
                   std::to_string(info.channels) + "x" + std::to_string(info.height) + "x" +
                   std::to_string(info.width) + " of " + std::to_string(info.classes) +
                   " (build the spec with the data set's model_input())");
}

// What a training run works with from its first epoch to its last.
struct Run {
  Run(const TrialSpec& s, const TrainOptions& o, const Dataset& d, TrainObserver& obs,
      torch::Device dev, ResolvedPrecision p)
      : spec(s),
        options(o),
        data(d),
        observer(obs),
        device(dev),
        precision(std::move(p)),
        model(s.model),
        loss_options(torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(
            s.hyper.label_smoothing)) {}

  const TrialSpec& spec;
  const TrainOptions& options;
  const Dataset& data;
  TrainObserver& observer;
  torch::Device device;
  ResolvedPrecision precision;
  Cnn model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<torch::Tensor> params;
  // Padding of a random crop takes the value of a black pixel, as torchvision pads
  // before normalizing: 0 normalized by the data set's statistics, per channel.
  std::vector<float> background;
  torch::nn::functional::CrossEntropyFuncOptions loss_options;
  torch::Tensor x_buffer, y_buffer;  // reused batches (LoopTuning::reuse_batch)
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;                     // of the learning-rate schedule
  int64_t target_steps = 0;                    // where this run stops (its budget)
  int64_t step = 0;                            // steps taken, resumed ones included
  std::optional<Clock::time_point> hard_stop;  // with a deadline: stop training here
  std::optional<WeightAverage> average;        // TrainOptions::ema_epochs
};

// One epoch's training: the sums its statistics come from, and where it is.
struct EpochTotals {
  torch::Tensor perm;      // the epoch's shuffle
  int64_t position = 0;    // batches done
  torch::Tensor loss_sum;  // on the device: read every kDivergenceCheck batches
  torch::Tensor correct;
  int64_t seen = 0;           // images trained in the epoch, an earlier piece's included
  int64_t seen_this_run = 0;  // of which by this run
  int64_t batches_this_run = 0;
  bool done = false;         // the epoch's last batch is trained
  bool interrupted = false;  // stop_requested()
  bool deadline = false;     // Run::hard_stop passed
};

// What the run is about to do, for the observer and the summary.
TrainStart start_of(const TrialSpec& spec, const Dataset& data, const TrainOptions& options,
                    const torch::Device& device, int threads, const ResolvedPrecision& precision) {
  TrainStart start;
  start.dataset = data.info.name;
  start.device = device.str();
  start.threads = threads;
  start.precision = precision.bf16 ? "bf16" : "fp32";
  start.precision_reason = precision.reason;
  start.train_size = data.train.size();
  start.val_size = data.val.size();
  start.test_size = options.evaluate_test ? data.test.size() : 0;
  start.cost = estimate_cost(spec.model);
  start.architecture = describe(spec.model);
  start.flip_tta = options.flip_tta;
  start.ema_epochs = options.ema_epochs;
  return start;
}

// A fresh epoch: a new shuffle (one index permutation; batches are gathered with
// index_select) and zero sums.
EpochTotals start_epoch(Run& r) {
  EpochTotals t;
  t.perm =
      torch::randperm(r.data.train.size(), torch::TensorOptions().dtype(torch::kLong)).to(r.device);
  t.loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(r.device));
  t.correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(r.device));
  return t;
}

// Trains epoch `epoch` on from where `t` is, until the epoch ends, the run reaches its
// target step, a stop is requested or the deadline's hard stop passes. `on_step` runs
// after every step (the deadline's planning).
template <typename OnStep>
void train_epoch(Run& r, int epoch, EpochTotals& t, Clock::time_point started, OnStep on_step) {
  const LoopTuning& tuning = r.options.tuning;
  const Augmentation& aug = r.spec.hyper.augmentation;
  const Split& train = r.data.train;
  const int64_t n = train.size();
  const int64_t batch = r.spec.hyper.batch_size;
  r.model->train();
  for (int64_t i = t.position * batch; i < n; i += batch) {
    if (r.step >= r.target_steps) return;
    if (r.observer.stop_requested()) {
      t.interrupted = true;
      return;
    }
    if (r.hard_stop && Clock::now() >= *r.hard_stop) {
      t.deadline = true;
      return;
    }
    const int64_t len = std::min(batch, n - i);
    const torch::Tensor idx = t.perm.narrow(0, i, len);
    torch::Tensor x, y;
    if (tuning.reuse_batch && len == batch) {
      torch::index_select_out(r.x_buffer, train.images, 0, idx);
      torch::index_select_out(r.y_buffer, train.labels, 0, idx);
      x = r.x_buffer;
      y = r.y_buffer;
    } else {
      x = train.images.index_select(0, idx);
      y = train.labels.index_select(0, idx);
    }
    if (aug.any()) x = augment(x, aug, r.background);
    if (tuning.channels_last) x = to_nhwc(x);
    if (tuning.grads_to_none) {
      for (auto& p : r.params) p.mutable_grad() = torch::Tensor();
    } else {
      r.optimizer->zero_grad();
    }
    if (r.spec.hyper.schedule != Schedule::kConstant) {
      set_learning_rate(*r.optimizer, scheduled_learning_rate(r.spec.hyper, r.step, r.total_steps));
    }
    ++r.step;
    torch::Tensor logits;
    {
      AutocastScope autocast(r.precision.bf16, r.device, at::kBFloat16);
      logits = r.model->forward(x);
    }
    // Loss and metrics in float32 (bf16 logits are cast up first).
    logits = logits.to(torch::kFloat);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y, r.loss_options);
    loss.backward();
    r.optimizer->step();
    if (r.average) r.average->update(r.step);
    // Accumulated on the device and read every kDivergenceCheck batches: no
    // device-to-host sync per batch. A NaN or infinite loss stays in the sum.
    t.loss_sum += loss.detach().to(torch::kDouble) * len;
    t.correct += logits.detach().argmax(1).eq(y).sum();
    const int64_t batch_number = i / batch + 1;
    t.position = batch_number;
    t.done = i + len >= n;
    if (batch_number % kDivergenceCheck == 0 || t.done || r.step == r.target_steps) {
      const double sum = t.loss_sum.item<double>();
      if (!std::isfinite(sum)) {
        throw DivergedError("training diverged: loss is " + std::to_string(sum) + " by epoch " +
                            std::to_string(epoch) + ", batch " + std::to_string(batch_number) +
                            " (try a lower learning_rate)");
      }
    }
    t.seen += len;
    t.seen_this_run += len;
    ++t.batches_this_run;
    r.observer.on_batch({epoch, r.spec.hyper.epochs, batch_number, r.steps_per_epoch,
                         t.batches_this_run, t.seen_this_run, seconds_since(started),
                         r.target_steps - r.step});
    on_step();
  }
}

// How long the last moments of a run take: the test evaluation (twice more with flip
// test-time augmentation; with weight averaging, once more for the last weights) and
// saving, from the training speed (an evaluation image costs about a third of a
// training one; taken as half) plus 5 s.
double end_seconds(const Run& r, double train_images_per_second) {
  const double passes =
      (r.options.flip_tta ? 3.0 : 1.0) + (r.average ? 1.0 : 0.0) * (r.options.flip_tta ? 2.0 : 1.0);
  const double test = r.options.evaluate_test ? static_cast<double>(r.data.test.size()) : 0.0;
  return passes * test / std::max(1.0, 2.0 * train_images_per_second) + 5.0;
}

// A run with a deadline fits its steps to the time left: at most `most` (the spec's
// epochs), whole epochs when at least one fits, never fewer than `done`. The schedule
// spans what is trained.
void fit_to_deadline(Run& r, Clock::time_point deadline, double seconds_per_step,
                     double end_seconds, int64_t most, bool may_grow) {
  const double left = std::chrono::duration<double>(deadline - Clock::now()).count() - end_seconds;
  int64_t fit =
      r.step + static_cast<int64_t>(std::max(0.0, left) / std::max(1e-6, seconds_per_step));
  if (fit >= r.steps_per_epoch) fit -= fit % r.steps_per_epoch;  // whole epochs
  fit = std::clamp<int64_t>(fit, std::max<int64_t>(r.step, 1), most);
  if (fit < r.target_steps || may_grow) r.target_steps = r.total_steps = fit;
  r.hard_stop = deadline - std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(end_seconds));
}

// `data`, whose loading also ends when the observer asks to stop (unless it has its own
// cancellation).
DataOptions with_stop(DataOptions data, TrainObserver& observer) {
  if (!data.cancelled) data.cancelled = [&observer] { return observer.stop_requested(); };
  return data;
}

// Where and how a run computes: the device, the threads, the precision.
struct Runtime {
  torch::Device device = torch::kCPU;
  int threads = 0;
  ResolvedPrecision precision;
};

// `observer`'s stop_requested() can end the precision probe (Interrupted).
Runtime set_up_runtime(const TrialSpec& spec, const TrainOptions& options,
                       TrainObserver& observer) {
  keep_freed_memory();
  Runtime rt;
  rt.device = resolve_device(options.device);
  rt.threads = resolve_threads(options.threads);
  // Adam's second moments and late gradients drift into denormal floats, which run
  // 10-100x slower on x86: flush them to zero. Set before the thread pool grows, as
  // OpenMP workers inherit the floating-point environment of the thread creating them.
  at::globalContext().setFlushDenormal(true);
  // LibTorch defaults to one thread here whatever the core count: set it explicitly.
  torch::set_num_threads(rt.threads);
  if (options.eval_batch_size < 1) throw UsageError("--eval-batch-size must be at least 1");
  if (!(options.ema_epochs >= 0 && options.ema_epochs <= 1e6)) {
    std::ostringstream e;
    e << options.ema_epochs;
    throw UsageError("--ema-epochs " + e.str() +
                     ": expected 0 (no weight averaging) or a time constant in epochs, e.g. 2.5");
  }
  at::globalContext().setUserEnabledMkldnn(options.tuning.mkldnn);
  rt.precision =
      resolve_precision(spec, options.precision, rt.device, options.tuning.mkldnn,
                        options.resume_from, [&observer] { return observer.stop_requested(); });
  return rt;
}

// The model on the run's device and layout, its optimizer, and what the training loop
// reuses: the parameters, the crop's background, the batch buffers.
void prepare_model(Run& r) {
  r.model->to(r.device);
  if (r.options.tuning.channels_last) to_channels_last(*r.model);
  r.optimizer = make_optimizer(r.model->parameters(), r.spec.hyper);
  const DatasetInfo& info = r.data.info;
  for (std::size_t c = 0; c < info.mean.size(); ++c)
    r.background.push_back((0.0f - info.mean[c]) / info.std[c]);
  r.params = r.model->parameters();
  r.x_buffer = torch::empty({0}, r.data.train.images.options());
  r.y_buffer = torch::empty({0}, r.data.train.labels.options());
}

// An epoch's figures from its totals `t` (of `train_images`) and its validation.
EpochStats epoch_stats(int epoch, const EpochTotals& t, int64_t train_images, const Evaluation& val,
                       double train_seconds, double eval_images_per_second) {
  EpochStats e;
  e.epoch = epoch;
  e.epochs_done =
      t.done ? epoch
             : (epoch - 1) + static_cast<double>(t.seen) / static_cast<double>(train_images);
  e.train_loss = t.loss_sum.item<double>() / static_cast<double>(t.seen);
  e.train_accuracy = static_cast<double>(t.correct.item<int64_t>()) / static_cast<double>(t.seen);
  e.val_loss = val.loss;
  e.val_accuracy = val.accuracy;
  e.images_per_second = static_cast<double>(t.seen_this_run) / train_seconds;
  e.eval_images_per_second = eval_images_per_second;
  return e;
}

// The run's steps: its budget (whole epochs, or a fraction of an epoch's batches) and
// the learning-rate schedule's span (--schedule-epochs, else the budget). UsageError for
// options that cannot go together.
void plan_steps(Run& r, int64_t train_images) {
  const TrainOptions& options = r.options;
  const int64_t batch = r.spec.hyper.batch_size;
  r.steps_per_epoch = (train_images + batch - 1) / batch;
  const double budget =
      r.spec.hyper.budget_epochs > 0 ? r.spec.hyper.budget_epochs : r.spec.hyper.epochs;
  r.target_steps =
      std::max<int64_t>(1, std::llround(budget * static_cast<double>(r.steps_per_epoch)));
  if (options.deadline && (!options.resume_from.empty() || options.schedule_epochs > 0 ||
                           !options.checkpoint_path.empty()))
    throw UsageError(
        "a time limit fits the schedule to the epochs that fit: it cannot be combined with "
        "--checkpoint, --resume-from or --schedule-epochs");
  r.total_steps = options.schedule_epochs > 0
                      ? r.steps_per_epoch * static_cast<int64_t>(options.schedule_epochs)
                      : r.target_steps;
  if (r.total_steps < r.target_steps) {
    std::ostringstream b;
    b << budget;
    throw UsageError("--schedule-epochs " + std::to_string(options.schedule_epochs) +
                     " is less than the " + b.str() +
                     " epochs to train: the learning-rate schedule must span them all");
  }
}

// Weight averaging (TrainOptions::ema_epochs) from the model's initial weights, its
// decay per step from the run's steps per epoch; returns the decay.
double start_average(Run& r) {
  const double steps = r.options.ema_epochs * static_cast<double>(r.steps_per_epoch);
  const double decay = 1.0 - 1.0 / std::max(1.0, steps);
  r.average.emplace(r.model, decay);
  return decay;
}

// The validation of the weights the run would save now: with weight averaging, the
// average.
Evaluation validate(Run& r) {
  if (r.average) r.average->swap();
  const Evaluation val =
      evaluate(r.model, r.data.val, r.options.eval_batch_size, r.options.tuning.channels_last,
               r.precision.bf16, r.options.flip_tta, r.observer);
  if (r.average) r.average->swap();
  return val;
}

// What a checkpoint must agree on to be continued by this run.
nlohmann::json checkpoint_identity(const Run& r) {
  nlohmann::json parameters = configuration_of(r.spec.parameters);
  parameters.erase("epochs");
  nlohmann::json identity = {{"parameters", parameters},
                             {"seed", r.options.seed},
                             {"train_size", r.data.train.size()},
                             {"val_size", r.data.val.size()},
                             {"batch_size", r.spec.hyper.batch_size},
                             {"schedule_steps", r.total_steps},
                             {"dataset", r.data.info.name},
                             {"precision", r.precision.bf16 ? "bf16" : "fp32"}};
  // Only with weight averaging, so checkpoints without it keep their identity.
  if (r.options.ema_epochs > 0) identity["ema_epochs"] = r.options.ema_epochs;
  return identity;
}

// Continues the run saved in options.resume_from (its identity must be `identity`): the
// weights, optimizer, step and curve into `r` and `result`; returns the epoch it left
// unfinished (an undefined perm when it ended on an epoch's end).
EpochTotals resume_run(Run& r, const nlohmann::json& identity, TrainResult& result) {
  const std::string& from = r.options.resume_from;
  const CheckpointMeta meta = load_checkpoint(from, identity, r.model, *r.optimizer, r.device,
                                              r.average ? &r.average->tensors() : nullptr);
  if (meta.step != meta.epoch * r.steps_per_epoch + meta.position ||
      meta.position >= r.steps_per_epoch || (meta.position > 0 && !meta.perm.defined()))
    throw ParamError(from + ": corrupt checkpoint (step " + std::to_string(meta.step) +
                     " is not epoch " + std::to_string(meta.epoch) + " and batch " +
                     std::to_string(meta.position) + ")");
  if (meta.step > r.target_steps) {
    std::ostringstream b;
    b << (r.spec.hyper.budget_epochs > 0 ? r.spec.hyper.budget_epochs : r.spec.hyper.epochs);
    throw ParamError(from + ": holds " + std::to_string(meta.step) + " steps, more than the " +
                     b.str() + " epochs (" + std::to_string(r.target_steps) + " steps) to train");
  }
  r.step = meta.step;
  result.resumed_epochs = meta.epoch;
  for (const auto& j : meta.curve) add_epoch(result, epoch_from_json(j));
  EpochTotals current;
  if (meta.position > 0) {
    const int64_t n = r.data.train.size();
    if (meta.perm.numel() != n)
      throw ParamError(from + ": corrupt checkpoint (its shuffle has " +
                       std::to_string(meta.perm.numel()) + " images, not " + std::to_string(n) +
                       ")");
    current.perm = meta.perm.to(r.device);
    current.position = meta.position;
    current.loss_sum = meta.loss_sum.to(r.device);
    current.correct = meta.correct.to(r.device);
    current.seen = meta.seen;
  }
  return current;
}

// Saves the run after `epoch`'s piece `t` (options.checkpoint_path).
void save_run(Run& r, const nlohmann::json& identity, int epoch, const EpochTotals& t,
              const TrainResult& result) {
  CheckpointMeta meta;
  meta.identity = identity;
  meta.epoch = t.done ? epoch : epoch - 1;
  meta.step = r.step;
  if (!t.done) {
    meta.position = t.position;
    meta.seen = t.seen;
    meta.perm = t.perm;
    meta.loss_sum = t.loss_sum;
    meta.correct = t.correct;
  }
  for (const EpochStats& s : result.curve) meta.curve.push_back(epoch_json(s));
  save_checkpoint(r.options.checkpoint_path, meta, r.model, *r.optimizer, r.device,
                  r.average ? &r.average->tensors() : nullptr);
}

// After training: the validation predictions (--predictions), the test accuracy (with
// and without flip test-time augmentation), then the weights and predictions saved.
void finish_run(Run& r, TrainResult& result) {
  const TrainOptions& options = r.options;
  const bool channels_last = options.tuning.channels_last;
  if (r.average) {  // the last weights measured, then the average is the model
    const auto last_weights = [&](const Split& split, double& accuracy) {
      if (result.interrupted || split.size() == 0) return;
      const Evaluation e = evaluate(r.model, split, options.eval_batch_size, channels_last,
                                    r.precision.bf16, options.flip_tta, r.observer);
      result.interrupted = e.interrupted;
      accuracy = e.accuracy;
    };
    last_weights(r.data.val, result.val_accuracy_without_ema);
    if (options.evaluate_test) last_weights(r.data.test, result.test_accuracy_without_ema);
    r.average->swap();
  }
  nlohmann::json predictions = nlohmann::json::object();
  if (!options.predictions_path.empty() && !result.interrupted && r.data.val.size() > 0) {
    std::vector<torch::Tensor> probabilities;
    const Evaluation val = evaluate(r.model, r.data.val, options.eval_batch_size, channels_last,
                                    r.precision.bf16, options.flip_tta, r.observer, &probabilities);
    result.interrupted = val.interrupted;
    if (!val.interrupted) predictions["validation"] = predictions_json(probabilities, r.data.val);
  }
  if (!result.interrupted && options.evaluate_test && r.data.test.size() > 0) {
    std::vector<torch::Tensor> probabilities;
    const Evaluation test = evaluate(r.model, r.data.test, options.eval_batch_size, channels_last,
                                     r.precision.bf16, options.flip_tta, r.observer,
                                     options.predictions_path.empty() ? nullptr : &probabilities);
    if (!test.interrupted && !options.predictions_path.empty())
      predictions["test"] = predictions_json(probabilities, r.data.test);
    result.interrupted = test.interrupted;
    if (!test.interrupted) {
      result.test_accuracy = test.accuracy;
      result.test_loss = test.loss;
    }
    if (!result.interrupted && options.flip_tta) {  // what the augmentation added
      const Evaluation plain = evaluate(r.model, r.data.test, options.eval_batch_size,
                                        channels_last, r.precision.bf16, false, r.observer);
      result.interrupted = plain.interrupted;
      result.test_accuracy_without_tta = plain.accuracy;
    }
  }
  if (!options.weights_path.empty() && !result.interrupted)
    save_weights(r.model, options.weights_path);
  if (!options.predictions_path.empty() && !result.interrupted)
    save_predictions(options.predictions_path, predictions, options.flip_tta);
}

}  // namespace

TrainResult train(const TrialSpec& spec, const Dataset& host_data, const TrainOptions& options,
                  TrainObserver& observer) {
  const auto t0 = Clock::now();
  const Runtime rt = set_up_runtime(spec, options, observer);
  const torch::Device device = rt.device;
  const ResolvedPrecision& precision = rt.precision;
  torch::manual_seed(options.seed);  // after the probe, which draws random numbers

  const DatasetInfo& info = host_data.info;
  check_model_fits(spec.model, info);
  const Dataset data = device.is_cpu() ? host_data : to_device(host_data, device);
  Run r(spec, options, data, observer, device, precision);
  prepare_model(r);

  TrainResult result;
  result.start = start_of(spec, data, options, device, rt.threads, precision);
  observer.on_start(result.start);

  const int64_t n = data.train.size();
  const int64_t batch = spec.hyper.batch_size;
  plan_steps(r, n);
  if (options.ema_epochs > 0) result.ema_decay = start_average(r);
  const nlohmann::json identity = checkpoint_identity(r);
  // An epoch a checkpoint left unfinished.
  EpochTotals current =
      options.resume_from.empty() ? EpochTotals{} : resume_run(r, identity, result);
  const int first_epoch = result.resumed_epochs + 1;

  // A deadline: the steps that fit, planned from the speed of steps 10-60 (of half an
  // epoch at most), again after each of the first two epochs (longer or shorter), and
  // after later ones only shorter.
  const int64_t most_steps = r.target_steps;
  const int64_t kPlanFrom = std::min<int64_t>(10, r.steps_per_epoch / 4);
  const int64_t kPlanTo = std::min<int64_t>(60, r.steps_per_epoch / 2);
  Clock::time_point plan_start;
  if (options.deadline) {
    result.planned_epochs = spec.hyper.epochs;
    r.hard_stop = *options.deadline - std::chrono::seconds(5);
  }
  const auto on_step = [&] {
    if (!options.deadline) return;
    if (kPlanTo <= kPlanFrom) return;
    if (r.step == kPlanFrom) plan_start = Clock::now();
    if (r.step == kPlanTo) {
      const double per_step = seconds_since(plan_start) / static_cast<double>(kPlanTo - kPlanFrom);
      fit_to_deadline(r, *options.deadline, per_step,
                      end_seconds(r, static_cast<double>(batch) / per_step), most_steps, true);
    }
  };

  int epochs_this_run = 0;
  for (int epoch = first_epoch; r.step < r.target_steps; ++epoch) {
    const auto te = Clock::now();
    const double cpu0 = process_cpu_seconds();
    EpochTotals t = current.perm.defined() ? std::move(current) : start_epoch(r);
    current = EpochTotals{};
    train_epoch(r, epoch, t, te, on_step);
    if (t.interrupted) {
      result.interrupted = true;
      break;
    }
    if (t.seen_this_run == 0) break;  // the deadline came before a batch
    const double train_seconds = seconds_since(te);
    // Only on CPU: a GPU run's host thread waits on the device, which says nothing of load.
    const double cpu_share = device.is_cpu() ? (process_cpu_seconds() - cpu0) /
                                                   (train_seconds * static_cast<double>(rt.threads))
                                             : 0.0;
    const auto tv = Clock::now();
    const Evaluation val = validate(r);
    const double val_seconds = seconds_since(tv);
    if (val.interrupted) {
      result.interrupted = true;
      break;
    }
    EpochStats e = epoch_stats(epoch, t, n, val, train_seconds,
                               static_cast<double>(data.val.size()) / val_seconds);
    e.epoch_seconds = seconds_since(te);
    e.cpu_share = cpu_share;
    e.elapsed_seconds = seconds_since(t0);
    add_epoch(result, e);
    if (!options.checkpoint_path.empty()) save_run(r, identity, epoch, t, result);
    observer.on_epoch(e);
    if (t.deadline) break;
    if (options.deadline && t.done) {
      ++epochs_this_run;
      const double steps = static_cast<double>(t.seen_this_run) / static_cast<double>(batch);
      fit_to_deadline(r, *options.deadline, e.epoch_seconds / std::max(1.0, steps),
                      end_seconds(r, e.images_per_second), most_steps, epochs_this_run <= 2);
    }
  }
  if (options.deadline)
    result.fitted_epochs = static_cast<double>(r.step) / static_cast<double>(r.steps_per_epoch);
  if (!result.curve.empty()) {
    result.final_val_accuracy = result.curve.back().val_accuracy;
    result.final_val_loss = result.curve.back().val_loss;
  }
  finish_run(r, result);
  result.seconds = seconds_since(t0);
  return result;
}

TrainResult train(const TrialSpec& spec, const DataOptions& data, const TrainOptions& options,
                  TrainObserver& observer) {
  return train(spec, load_dataset(with_stop(data, observer)), options, observer);
}

TrainResult evaluate_weights(const TrialSpec& spec, const Dataset& host_data,
                             const TrainOptions& options, const std::string& weights_path,
                             TrainObserver& observer) {
  const auto t0 = Clock::now();
  const Runtime rt = set_up_runtime(spec, options, observer);
  check_model_fits(spec.model, host_data.info);
  const Dataset data = rt.device.is_cpu() ? host_data : to_device(host_data, rt.device);
  Cnn model(spec.model);
  load_weights(model, weights_path, rt.device);
  if (options.tuning.channels_last) to_channels_last(*model);

  TrainResult result;
  result.start = start_of(spec, data, options, rt.device, rt.threads, rt.precision);
  observer.on_start(result.start);
  const bool channels_last = options.tuning.channels_last;
  const bool keep = !options.predictions_path.empty();
  nlohmann::json predictions = nlohmann::json::object();
  if (data.val.size() > 0) {
    std::vector<torch::Tensor> probabilities;
    const Evaluation val =
        evaluate(model, data.val, options.eval_batch_size, channels_last, rt.precision.bf16,
                 options.flip_tta, observer, keep ? &probabilities : nullptr);
    result.interrupted = val.interrupted;
    result.final_val_accuracy = result.best_val_accuracy = val.accuracy;
    result.final_val_loss = val.loss;
    if (keep && !val.interrupted)
      predictions["validation"] = predictions_json(probabilities, data.val);
  }
  if (!result.interrupted && options.evaluate_test && data.test.size() > 0) {
    std::vector<torch::Tensor> probabilities;
    const Evaluation test =
        evaluate(model, data.test, options.eval_batch_size, channels_last, rt.precision.bf16,
                 options.flip_tta, observer, keep ? &probabilities : nullptr);
    result.interrupted = test.interrupted;
    result.test_accuracy = test.accuracy;
    result.test_loss = test.loss;
    if (keep && !test.interrupted) predictions["test"] = predictions_json(probabilities, data.test);
  }
  if (keep && !result.interrupted)
    save_predictions(options.predictions_path, predictions, options.flip_tta);
  result.seconds = seconds_since(t0);
  return result;
}

TrainResult evaluate_weights(const TrialSpec& spec, const DataOptions& data,
                             const TrainOptions& options, const std::string& weights_path,
                             TrainObserver& observer) {
  return evaluate_weights(spec, load_dataset(with_stop(data, observer)), options, weights_path,
                          observer);
}

std::string format_epoch(const EpochStats& e, int epochs) {
  char done[32];
  if (e.epochs_done > 0 && std::abs(e.epochs_done - e.epoch) > 1e-9) {
    std::snprintf(done, sizeof done, "%.2f", e.epochs_done);  // a budget ended inside it
  } else {
    std::snprintf(done, sizeof done, "%3d", e.epoch);
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "epoch %s/%-3d train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  "
                "%6.0f img/s  %7.1f s",
                done, epochs, e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy,
                e.images_per_second, e.elapsed_seconds);
  return line;
}

nlohmann::json summary_json(const TrialSpec& spec, const TrainResult& r) {
  nlohmann::json curve = nlohmann::json::array();
  for (const EpochStats& e : r.curve) curve.push_back(epoch_json(e));
  nlohmann::json j = {
      {"parameters", spec.parameters},
      {"architecture", r.start.architecture},
      {"dataset", r.start.dataset},
      {"optimizer", to_string(spec.hyper.optimizer)},
      {"schedule", to_string(spec.hyper.schedule)},
      {"device", r.start.device},
      {"precision", r.start.precision},
      {"precision_reason", r.start.precision_reason},
      {"threads", r.start.threads},
      {"train_size", r.start.train_size},
      {"val_size", r.start.val_size},
      {"epochs_completed", r.curve.size()},
      {"epochs_trained", r.curve.empty() ? 0.0 : r.curve.back().epochs_done},
      {"resumed_epochs", r.resumed_epochs},
      {"interrupted", r.interrupted},
      {"curve", curve},
      {"final_val_accuracy", r.final_val_accuracy},
      {"best_val_accuracy", r.best_val_accuracy},
      {"best_epoch", r.best_epoch},
      {"params", r.start.cost.params},
      {"macs", r.start.cost.macs},
      {"seconds", r.seconds},
  };
  if (r.start.val_size == 0) {  // trained on every training image: nothing to report
    j["final_val_accuracy"] = nullptr;
    j["best_val_accuracy"] = nullptr;
    j["best_epoch"] = nullptr;
    for (auto& e : j["curve"]) {
      e["val_loss"] = nullptr;
      e["val_accuracy"] = nullptr;
    }
  }
  if (r.planned_epochs > 0)  // a run fitted to a deadline (TrainOptions::deadline)
    j["time_limit"] = {{"planned_epochs", r.planned_epochs}, {"trained_epochs", r.fitted_epochs}};
  j["test_time_augmentation"] = r.start.flip_tta ? "flip" : "none";
  if (r.start.ema_epochs > 0)
    j["weight_average"] = {{"ema_epochs", r.start.ema_epochs}, {"decay", r.ema_decay}};
  if (r.val_accuracy_without_ema >= 0) j["val_accuracy_without_ema"] = r.val_accuracy_without_ema;
  if (r.test_accuracy_without_ema >= 0)
    j["test_accuracy_without_ema"] = r.test_accuracy_without_ema;
  if (r.test_accuracy_without_tta >= 0)
    j["test_accuracy_without_tta"] = r.test_accuracy_without_tta;
  if (r.test_accuracy >= 0) {
    j["test_accuracy"] = r.test_accuracy;
    j["test_loss"] = r.test_loss;
    j["test_size"] = r.start.test_size;
  } else {
    j["test_accuracy"] = nullptr;
  }
  return j;
}

}  // namespace nnilib
