#include "nnilib/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/data/data.h"
#include "nnilib/model/model.h"
#include "nnilib/trial/protocol.h"
#include "train/augment.h"
#include "train/autocast.h"
#include "train/checkpoint.h"

namespace nnilib {
namespace {

using Clock = std::chrono::steady_clock;

// Batches between two reads of the accumulated loss (the divergence check).
constexpr int64_t kDivergenceCheck = 16;

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
// observer between batches so that a signal is honoured within one batch.
Evaluation evaluate(Cnn& model, const Split& split, int64_t batch_size, bool channels_last,
                    bool bf16, TrainObserver& observer) {
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
    loss_sum += torch::nn::functional::cross_entropy(
        logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    correct += logits.argmax(1).eq(y).sum();
  }
  model->train();
  if (n > 0 && !result.interrupted) {
    result.loss = loss_sum.item<double>() / static_cast<double>(n);
    result.accuracy = static_cast<double>(correct.item<int64_t>()) / static_cast<double>(n);
  }
  return result;
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
ResolvedPrecision resolve_precision(const ModelSpec& spec, Precision requested,
                                    const torch::Device& device, bool mkldnn) {
  const auto probed = [&](const std::string& why) {
    const PrecisionProbe p = probe_precision(spec, device.str());
    char line[160];
    if (!p.bf16_works) {
      std::snprintf(line, sizeof line, "%s: bf16 does not run on %s", why.c_str(),
                    device.str().c_str());
    } else {
      std::snprintf(line, sizeof line, "%s: probe %.1f ms per bf16 step vs %.1f ms fp32",
                    why.c_str(), p.bf16_ms, p.fp32_ms);
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
          {"train_loss", e.train_loss},
          {"train_accuracy", e.train_accuracy},
          {"val_loss", e.val_loss},
          {"val_accuracy", e.val_accuracy},
          {"images_per_second", e.images_per_second},
          {"eval_images_per_second", e.eval_images_per_second},
          {"epoch_seconds", e.epoch_seconds},
          {"elapsed_seconds", e.elapsed_seconds}};
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
  e.train_loss = j.value("train_loss", 0.0);
  e.train_accuracy = j.value("train_accuracy", 0.0);
  e.val_loss = j.value("val_loss", 0.0);
  e.val_accuracy = j.value("val_accuracy", 0.0);
  e.images_per_second = j.value("images_per_second", 0.0);
  e.eval_images_per_second = j.value("eval_images_per_second", 0.0);
  e.epoch_seconds = j.value("epoch_seconds", 0.0);
  e.elapsed_seconds = j.value("elapsed_seconds", 0.0);
  return e;
}

}  // namespace

TrainResult train(const TrialSpec& spec, const Dataset& host_data, const TrainOptions& options,
                  TrainObserver& observer) {
  const auto t0 = Clock::now();
  const torch::Device device = resolve_device(options.device);
  const int threads = resolve_threads(options.threads);
  // Adam's second moments and late gradients drift into denormal floats, which run
  // 10-100x slower on x86: flush them to zero. Set before the thread pool grows, as
  // OpenMP workers inherit the floating-point environment of the thread creating them.
  at::globalContext().setFlushDenormal(true);
  // LibTorch defaults to one thread here whatever the core count: set it explicitly.
  torch::set_num_threads(threads);
  if (options.eval_batch_size < 1) throw UsageError("--eval-batch-size must be at least 1");

  const LoopTuning& tuning = options.tuning;
  at::globalContext().setUserEnabledMkldnn(tuning.mkldnn);
  const ResolvedPrecision precision =
      resolve_precision(spec.model, options.precision, device, tuning.mkldnn);
  torch::manual_seed(options.seed);  // after the probe, which draws random numbers

  const DatasetInfo& info = host_data.info;
  const ModelSpec& m = spec.model;
  if (m.in_channels != info.channels || m.in_height != info.height || m.in_width != info.width ||
      m.num_classes != info.classes)
    throw ParamError(
        "the model takes " + std::to_string(m.in_channels) + "x" + std::to_string(m.in_height) +
        "x" + std::to_string(m.in_width) + " images of " + std::to_string(m.num_classes) +
        " classes, the data set " + info.name + " has " + std::to_string(info.channels) + "x" +
        std::to_string(info.height) + "x" + std::to_string(info.width) + " of " +
        std::to_string(info.classes) + " (build the spec with the data set's model_input())");
  const Dataset data = device.is_cpu() ? host_data : to_device(host_data, device);
  Cnn model(spec.model);
  model->to(device);
  if (tuning.channels_last) to_channels_last(*model);
  const std::unique_ptr<torch::optim::Optimizer> optimizer =
      make_optimizer(model->parameters(), spec.hyper);
  const Augmentation& aug = spec.hyper.augmentation;
  // Padding of a random crop takes the value of a black pixel, as torchvision pads
  // before normalizing: 0 normalized by the data set's statistics, per channel.
  std::vector<float> background;
  for (std::size_t c = 0; c < info.mean.size(); ++c)
    background.push_back((0.0f - info.mean[c]) / info.std[c]);
  const auto loss_options =
      torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(spec.hyper.label_smoothing);

  TrainResult result;
  result.start.dataset = info.name;
  result.start.device = device.str();
  result.start.threads = threads;
  result.start.precision = precision.bf16 ? "bf16" : "fp32";
  result.start.precision_reason = precision.reason;
  result.start.train_size = data.train.size();
  result.start.val_size = data.val.size();
  result.start.test_size = options.evaluate_test ? data.test.size() : 0;
  result.start.cost = estimate_cost(spec.model);
  result.start.architecture = describe(spec.model);
  observer.on_start(result.start);

  const int64_t n = data.train.size();
  const int64_t batch = spec.hyper.batch_size;
  std::vector<torch::Tensor> params = model->parameters();
  torch::Tensor x_buffer = torch::empty({0}, data.train.images.options());
  torch::Tensor y_buffer = torch::empty({0}, data.train.labels.options());
  const auto index_options = torch::TensorOptions().dtype(torch::kLong).device(device);
  const int64_t steps_per_epoch = (n + batch - 1) / batch;
  const int schedule_epochs =
      options.schedule_epochs > 0 ? options.schedule_epochs : spec.hyper.epochs;
  if (schedule_epochs < spec.hyper.epochs)
    throw UsageError("--schedule-epochs " + std::to_string(schedule_epochs) + " is less than the " +
                     std::to_string(spec.hyper.epochs) +
                     " epochs to train: the learning-rate schedule must span them all");
  const int64_t total_steps = steps_per_epoch * schedule_epochs;
  int64_t step = 0;
  int first_epoch = 1;
  // What a checkpoint must agree on to be continued by this run.
  nlohmann::json identity_parameters = spec.parameters;
  identity_parameters.erase("epochs");
  identity_parameters.erase(kTrialBudgetKey);
  const nlohmann::json identity = {{"parameters", identity_parameters},
                                   {"seed", options.seed},
                                   {"train_size", n},
                                   {"val_size", data.val.size()},
                                   {"batch_size", batch},
                                   {"schedule_steps", total_steps},
                                   {"dataset", info.name}};
  if (!options.resume_from.empty()) {
    const CheckpointMeta meta =
        load_checkpoint(options.resume_from, identity, model, *optimizer, device);
    if (meta.epoch > spec.hyper.epochs)
      throw ParamError(options.resume_from + ": holds " + std::to_string(meta.epoch) +
                       " epochs, more than the " + std::to_string(spec.hyper.epochs) + " to train");
    first_epoch = meta.epoch + 1;
    step = meta.step;
    result.resumed_epochs = meta.epoch;
    for (const auto& j : meta.curve) add_epoch(result, epoch_from_json(j));
  }
  for (int epoch = first_epoch; epoch <= spec.hyper.epochs && !result.interrupted; ++epoch) {
    const auto te = Clock::now();
    model->train();
    // Per-epoch shuffle: one index permutation; batches are gathered with index_select.
    const torch::Tensor perm =
        torch::randperm(n, torch::TensorOptions().dtype(torch::kLong)).to(device);
    torch::Tensor loss_sum =
        torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
    torch::Tensor correct = torch::zeros({}, index_options);
    int64_t seen = 0;
    for (int64_t i = 0; i < n; i += batch) {
      if (observer.stop_requested()) {
        result.interrupted = true;
        break;
      }
      const int64_t len = std::min(batch, n - i);
      const torch::Tensor idx = perm.narrow(0, i, len);
      torch::Tensor x, y;
      if (tuning.reuse_batch && len == batch) {
        torch::index_select_out(x_buffer, data.train.images, 0, idx);
        torch::index_select_out(y_buffer, data.train.labels, 0, idx);
        x = x_buffer;
        y = y_buffer;
      } else {
        x = data.train.images.index_select(0, idx);
        y = data.train.labels.index_select(0, idx);
      }
      if (aug.any()) x = augment(x, aug, background);
      if (tuning.channels_last) x = to_nhwc(x);
      if (tuning.grads_to_none) {
        for (auto& p : params) p.mutable_grad() = torch::Tensor();
      } else {
        optimizer->zero_grad();
      }
      if (spec.hyper.schedule != Schedule::kConstant) {
        set_learning_rate(*optimizer, scheduled_learning_rate(spec.hyper, step, total_steps));
      }
      ++step;
      torch::Tensor logits;
      {
        AutocastScope autocast(precision.bf16, device, at::kBFloat16);
        logits = model->forward(x);
      }
      // Loss and metrics in float32 (bf16 logits are cast up first).
      logits = logits.to(torch::kFloat);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y, loss_options);
      loss.backward();
      optimizer->step();
      // Accumulated on the device and read every kDivergenceCheck batches: no
      // device-to-host sync per batch. A NaN or infinite loss stays in the sum.
      loss_sum += loss.detach().to(torch::kDouble) * len;
      correct += logits.detach().argmax(1).eq(y).sum();
      const int64_t batch_number = i / batch + 1;
      if (batch_number % kDivergenceCheck == 0 || i + len >= n) {
        const double sum = loss_sum.item<double>();
        if (!std::isfinite(sum)) {
          throw DivergedError("training diverged: loss is " + std::to_string(sum) + " by epoch " +
                              std::to_string(epoch) + ", batch " + std::to_string(batch_number) +
                              " (try a lower learning_rate)");
        }
      }
      seen += len;
      observer.on_batch(
          {epoch, spec.hyper.epochs, batch_number, steps_per_epoch, seen, seconds_since(te)});
    }
    if (result.interrupted) break;
    const double train_seconds = seconds_since(te);
    const auto tv = Clock::now();
    const Evaluation val = evaluate(model, data.val, options.eval_batch_size, tuning.channels_last,
                                    precision.bf16, observer);
    const double val_seconds = seconds_since(tv);
    if (val.interrupted) {
      result.interrupted = true;
      break;
    }
    EpochStats e;
    e.epoch = epoch;
    e.train_loss = loss_sum.item<double>() / static_cast<double>(seen);
    e.train_accuracy = static_cast<double>(correct.item<int64_t>()) / static_cast<double>(seen);
    e.val_loss = val.loss;
    e.val_accuracy = val.accuracy;
    e.images_per_second = static_cast<double>(seen) / train_seconds;
    e.eval_images_per_second = static_cast<double>(data.val.size()) / val_seconds;
    e.epoch_seconds = seconds_since(te);
    e.elapsed_seconds = seconds_since(t0);
    add_epoch(result, e);
    if (!options.checkpoint_path.empty()) {
      CheckpointMeta meta;
      meta.identity = identity;
      meta.epoch = epoch;
      meta.step = step;
      for (const EpochStats& s : result.curve) meta.curve.push_back(epoch_json(s));
      save_checkpoint(options.checkpoint_path, meta, model, *optimizer, device);
    }
    observer.on_epoch(e);
  }
  if (!result.curve.empty()) result.final_val_accuracy = result.curve.back().val_accuracy;
  if (!result.interrupted && options.evaluate_test && data.test.size() > 0) {
    const Evaluation test = evaluate(model, data.test, options.eval_batch_size,
                                     tuning.channels_last, precision.bf16, observer);
    result.interrupted = test.interrupted;
    if (!test.interrupted) {
      result.test_accuracy = test.accuracy;
      result.test_loss = test.loss;
    }
  }
  if (!options.weights_path.empty() && !result.interrupted)
    save_weights(model, options.weights_path);
  result.seconds = seconds_since(t0);
  return result;
}

TrainResult train(const TrialSpec& spec, const DataOptions& data, const TrainOptions& options,
                  TrainObserver& observer) {
  return train(spec, load_dataset(data), options, observer);
}

std::string format_epoch(const EpochStats& e, int epochs) {
  char line[256];
  std::snprintf(line, sizeof line,
                "epoch %3d/%-3d train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  "
                "%6.0f img/s  %7.1f s",
                e.epoch, epochs, e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy,
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
