// Training on real Fashion-MNIST subsets: it learns, and it is deterministic for a seed.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "nnilib/common/error.h"
#include "nnilib/data/data.h"
#include "nnilib/model/model.h"
#include "nnilib/train/trainer.h"
#include "test_util.h"
#include "train/augment.h"
#include "train/weight_average.h"

using nlohmann::json;

namespace {

nnilib::Dataset subset(int64_t train = 2000, int64_t val = 1000, int64_t test = 500) {
  nnilib::DataOptions opt;
  opt.dir = testutil::data_dir();
  opt.val_size = val;
  opt.train_size = train;
  opt.test_size = test;
  return nnilib::load_dataset(opt);
}

struct Recorder : nnilib::TrainObserver {
  std::vector<nnilib::EpochStats> epochs;
  int stop_after_batches = -1;
  int batches = 0;
  void on_epoch(const nnilib::EpochStats& e) override { epochs.push_back(e); }
  // Counts trained batches (stop_requested is also asked while loading and probing).
  void on_batch(const nnilib::BatchProgress&) override { ++batches; }
  bool stop_requested() override {
    return stop_after_batches >= 0 && batches >= stop_after_batches;
  }
};

// The spec of `params` trained for `epochs`.
nnilib::TrialSpec spec_with_epochs(json params, int epochs) {
  params["epochs"] = epochs;
  return nnilib::trial_spec_from_parameters(params);
}

nnilib::TrainOptions options() {
  nnilib::TrainOptions o;
  o.device = "cpu";
  o.seed = 5;
  return o;
}

}  // namespace

TEST_CASE("one epoch on 2,000 real images reaches over 70% on 1,000 held-out images") {
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 1}});
  Recorder rec;
  const auto r = nnilib::train(spec, data, options(), rec);
  REQUIRE(r.curve.size() == 1);
  CHECK(rec.epochs.size() == 1);
  CHECK(r.start.train_size == 2000);
  CHECK(r.start.val_size == 1000);
  CHECK(r.final_val_accuracy > 0.70);
  CHECK(r.test_accuracy > 0.65);
  CHECK(r.curve[0].train_loss > 0);
  CHECK(r.curve[0].images_per_second > 0);
  // The CPU time it got over its wall time x threads: at most 1 (a little over for
  // threads spinning between operators), above 0 however busy the machine is.
  CHECK(r.curve[0].cpu_share > 0);
  CHECK(r.curve[0].cpu_share < 1.5);
  CHECK_FALSE(r.interrupted);
  const json s = nnilib::summary_json(spec, r);
  CHECK(s["curve"].size() == 1);
  CHECK(s["curve"][0]["cpu_share"] == r.curve[0].cpu_share);
  CHECK(s["params"] == 960278);
  CHECK(s["test_accuracy"].get<double>() == r.test_accuracy);
}

TEST_CASE("the same seed gives the same losses twice") {
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(
      json{{"epochs", 2}, {"filter_size_c1", 32}, {"filter_size_c2", 32}, {"nb_units", 80}});
  // One precision for both: `auto` may probe, and a busy machine may tip the probe.
  auto fixed = options();
  fixed.precision = nnilib::Precision::kFp32;
  Recorder a, b;
  const auto ra = nnilib::train(spec, data, fixed, a);
  const auto rb = nnilib::train(spec, data, fixed, b);
  REQUIRE(ra.curve.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(ra.curve[i].train_loss == rb.curve[i].train_loss);
    CHECK(ra.curve[i].val_loss == rb.curve[i].val_loss);
    CHECK(ra.curve[i].val_accuracy == rb.curve[i].val_accuracy);
  }
  auto other = fixed;
  other.seed = 6;
  Recorder c;
  const auto rc = nnilib::train(spec, data, other, c);
  CHECK(rc.curve[0].train_loss != ra.curve[0].train_loss);
}

TEST_CASE("a stop request ends training at the next batch without a test evaluation") {
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 3}});
  Recorder rec;
  rec.stop_after_batches = 40;  // 2,000 images / 64 = 32 batches per epoch: stops in epoch 2
  const auto r = nnilib::train(spec, data, options(), rec);
  CHECK(r.interrupted);
  CHECK(r.curve.size() == 1);
  CHECK(r.test_accuracy < 0);
}

TEST_CASE("a diverging loss stops the run with a clear error") {
  const auto data = subset();
  // A learning rate this large drives Adam's weights to infinity within a few batches.
  auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 1}});
  spec.hyper.learning_rate = 1e30;
  Recorder rec;
  CHECK_THROWS_WITH(
      nnilib::train(spec, data, options(), rec),
      Catch::StartsWith("training diverged: loss is") && Catch::Contains("learning_rate"));
}

TEST_CASE("an unavailable device is a usage error") {
  if (torch::cuda::is_available()) NNILIB_SKIP("this machine has a CUDA device");
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 1}});
  auto o = options();
  o.device = "cuda";
  Recorder rec;
  CHECK_THROWS_WITH(nnilib::train(spec, data, o, rec), Catch::Contains("CUDA is not available"));
  o.device = "tpu";
  CHECK_THROWS_WITH(nnilib::train(spec, data, o, rec), Catch::Contains("unknown device"));
}

TEST_CASE("a residual model-space configuration with every training option learns") {
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json::parse(R"({
    "num_blocks": 2,
    "conv1": {"_name": "residual", "channels": 16},
    "conv2": {"_name": "separable_residual", "channels": 32},
    "activation": "silu", "head": "gap", "dropout": 0.1,
    "optimizer": {"_name": "adamw", "learning_rate": 0.004, "weight_decay": 0.01},
    "schedule": "one_cycle", "label_smoothing": 0.1, "batch_size": 32, "epochs": 2,
    "augment_crop": 2, "augment_flip": true, "augment_erasing": 0.25
  })"));
  Recorder rec;
  const auto r = nnilib::train(spec, data, options(), rec);
  REQUIRE(r.curve.size() == 2);
  CHECK(r.final_val_accuracy > 0.60);  // chance is 0.10
  CHECK(r.test_accuracy > 0.55);
  const json s = nnilib::summary_json(spec, r);
  CHECK(s["optimizer"] == "adamw");
  CHECK(s["schedule"] == "one_cycle");
}

TEST_CASE("sgd with Nesterov momentum and a cosine schedule learns") {
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json{{"num_blocks", 2},
                                                            {"conv1_channels", 16},
                                                            {"conv2_channels", 32},
                                                            {"optimizer", "sgd"},
                                                            {"learning_rate", 0.05},
                                                            {"schedule", "cosine"},
                                                            {"batch_size", 16},
                                                            {"epochs", 1}});
  Recorder rec;
  const auto r = nnilib::train(spec, data, options(), rec);
  CHECK(r.final_val_accuracy > 0.60);
}

TEST_CASE("without a validation split training runs and reports no validation figures") {
  nnilib::DataOptions opt;
  opt.dir = testutil::data_dir();
  opt.val_size = 0;
  opt.train_size = 1000;
  opt.test_size = 500;
  const auto data = nnilib::load_dataset(opt);
  CHECK(data.val.size() == 0);
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 1}});
  Recorder rec;
  const auto r = nnilib::train(spec, data, options(), rec);
  CHECK(r.test_accuracy > 0.5);
  const json s = nnilib::summary_json(spec, r);
  CHECK(s["best_val_accuracy"].is_null());
  CHECK(s["curve"][0]["val_accuracy"].is_null());
}

TEST_CASE("learning-rate schedules follow their formulas") {
  nnilib::Hyperparameters h;
  h.learning_rate = 0.1;
  h.schedule = nnilib::Schedule::kConstant;
  CHECK(nnilib::scheduled_learning_rate(h, 57, 100) == 0.1);
  h.schedule = nnilib::Schedule::kCosine;
  CHECK(nnilib::scheduled_learning_rate(h, 0, 100) == Approx(0.1));
  CHECK(nnilib::scheduled_learning_rate(h, 50, 100) == Approx(0.05));
  CHECK(nnilib::scheduled_learning_rate(h, 100, 100) == Approx(0.0).margin(1e-12));
  h.schedule = nnilib::Schedule::kOneCycle;  // PyTorch OneCycleLR: 0.1/25 up to 0.1 at 30%
  CHECK(nnilib::scheduled_learning_rate(h, 0, 100) == Approx(0.004));
  CHECK(nnilib::scheduled_learning_rate(h, 15, 100) == Approx(0.052));
  CHECK(nnilib::scheduled_learning_rate(h, 30, 100) == Approx(0.1));
  CHECK(nnilib::scheduled_learning_rate(h, 65, 100) == Approx(0.05).epsilon(0.001));
  CHECK(nnilib::scheduled_learning_rate(h, 100, 100) == Approx(0.004 / 1e4));
}

TEST_CASE("a crop of 3-channel images pads each channel with its own black") {
  const torch::Tensor x = torch::ones({16, 3, 8, 8});
  nnilib::Augmentation crop;
  crop.crop_padding = 4;
  torch::manual_seed(5);
  const torch::Tensor c = nnilib::augment(x, crop, {-1.0f, -2.0f, -3.0f});
  CHECK(c.sizes() == x.sizes());
  // Every pixel is the image's (1) or its channel's padding.
  for (int ch = 0; ch < 3; ++ch) {
    const torch::Tensor v = c.select(1, ch);
    CHECK((v.eq(1) | v.eq(-1.0f - ch)).all().item<bool>());
    CHECK(v.eq(-1.0f - ch).any().item<bool>());  // a 4-pixel shift shows padding somewhere
  }
}

TEST_CASE("augmentation keeps shapes, is seeded, and does what each option says") {
  const auto data = subset();
  const torch::Tensor x = data.train.images.narrow(0, 0, 64);
  const std::vector<float> black = {data.train.images.min().item<float>()};
  nnilib::Augmentation none;
  CHECK(nnilib::augment(x, none, black).data_ptr() == x.data_ptr());

  nnilib::Augmentation flip;
  flip.flip = true;
  torch::manual_seed(3);
  const torch::Tensor f = nnilib::augment(x, flip, black);
  int flipped = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const bool same = torch::equal(f[i], x[i]);
    const bool mirrored = torch::equal(f[i], x[i].flip({2}));
    CHECK((same || mirrored));
    flipped += mirrored && !same;
  }
  CHECK(flipped > 16);  // about half of 64
  CHECK(flipped < 48);

  nnilib::Augmentation crop;
  crop.crop_padding = 3;
  torch::manual_seed(3);
  const torch::Tensor c1 = nnilib::augment(x, crop, black);
  torch::manual_seed(3);
  const torch::Tensor c2 = nnilib::augment(x, crop, black);
  CHECK(c1.sizes() == x.sizes());
  CHECK(torch::equal(c1, c2));
  // Each crop is the image shifted by at most 3 pixels: some shift reproduces it.
  const torch::Tensor padded = torch::constant_pad_nd(x, {3, 3, 3, 3}, black[0]);
  for (int64_t i = 0; i < 8; ++i) {
    bool found = false;
    for (int dy = 0; dy <= 6 && !found; ++dy)
      for (int dx = 0; dx <= 6 && !found; ++dx)
        found = torch::equal(c1[i], padded[i].narrow(1, dy, 28).narrow(2, dx, 28));
    CHECK(found);
  }

  nnilib::Augmentation erase;
  erase.erasing = 1.0;
  const torch::Tensor e = nnilib::augment(x, erase, black);
  for (int64_t i = 0; i < 64; ++i) {
    const int64_t changed = e[i].ne(x[i]).sum().item<int64_t>();
    const int64_t zeros = e[i].eq(0).sum().item<int64_t>();
    CHECK(changed <= zeros);
    CHECK(zeros >= 6);  // 2% of 784 pixels, give or take rounding of the sides
  }
}

// ---- precision (--precision fp32 | bf16 | auto) -----------------------------------

namespace {

// bf16 runs natively here (AMX-BF16 or AVX512-BF16); elsewhere oneDNN emulates it,
// slowly, and the bf16 tests skip.
bool native_bf16() {
  const nnilib::CpuFeatures f = nnilib::detect_cpu_features();
  return f.amx_bf16 || f.avx512_bf16;
}

const nnilib::Dataset& tiny() {
  static const nnilib::Dataset data = subset(/*train=*/96, /*val=*/64, /*test=*/64);
  return data;
}

}  // namespace

TEST_CASE("bf16 on real data learns, and weights and batch-norm statistics stay float32") {
  if (!native_bf16())
    NNILIB_SKIP("this CPU has no bfloat16 instructions (" +
                nnilib::describe(nnilib::detect_cpu_features()) + ")");
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json::parse(R"({
    "num_blocks": 2, "conv1": {"_name": "plain", "channels": 32},
    "conv2": {"_name": "residual", "channels": 64}, "head": "gap",
    "optimizer": {"_name": "adamw", "learning_rate": 0.003}, "schedule": "one_cycle",
    "label_smoothing": 0.1, "epochs": 2})"));
  auto o = options();
  o.precision = nnilib::Precision::kBf16;
  o.weights_path = testutil::temp_dir() + "/bf16.pt";
  Recorder rec;
  const auto r = nnilib::train(spec, data, o, rec);
  CHECK(r.start.precision == "bf16");
  CHECK(r.start.precision_reason == "requested");
  REQUIRE(r.curve.size() == 2);
  CHECK(r.final_val_accuracy > 0.70);
  CHECK(r.test_accuracy > 0.65);
  const json s = nnilib::summary_json(spec, r);
  CHECK(s["precision"] == "bf16");
  // Master weights, running means and variances were kept (and saved) in float32.
  torch::serialize::InputArchive archive;
  archive.load_from(o.weights_path);
  int float_tensors = 0;
  std::function<void(torch::serialize::InputArchive&, const std::string&)> walk =
      [&](torch::serialize::InputArchive& a, const std::string& prefix) {
        for (const std::string& k : a.keys()) {
          torch::Tensor t;
          if (a.try_read(k, t)) {
            INFO(prefix + k);
            if (t.is_floating_point()) {
              CHECK(t.scalar_type() == torch::kFloat);
              CHECK(torch::isfinite(t).all().item<bool>());
              ++float_tensors;
            }
          } else {
            torch::serialize::InputArchive sub;
            if (a.try_read(k, sub)) walk(sub, prefix + k + ".");
          }
        }
      };
  walk(archive, "");
  CHECK(float_tensors >= 10);
}

namespace {

// Trains every block kind, activation, pooling and head (and batch norm on/off) one
// epoch on tiny data in `precision`: 120 runs, each with finite losses and a test
// accuracy above chance's floor of nothing (some images right).
void train_every_block_combination(nnilib::Precision precision) {
  const auto& data = tiny();
  int runs = 0;
  for (json params : testutil::every_block_combination()) {
    params["batch_size"] = 32;
    params["epochs"] = 1;
    params["augment_crop"] = 2;
    INFO(nnilib::to_string(precision) << " " << params.dump());
    const auto spec = nnilib::trial_spec_from_parameters(params);
    auto o = options();
    o.precision = precision;
    Recorder rec;
    const auto r = nnilib::train(spec, data, o, rec);
    CHECK(r.start.precision == nnilib::to_string(precision));
    REQUIRE(r.curve.size() == 1);
    CHECK(std::isfinite(r.curve[0].train_loss));
    CHECK(std::isfinite(r.curve[0].val_loss));
    // A test accuracy that was measured: a fraction of the test images, a whole number
    // of them.
    CHECK(r.test_accuracy > 0);
    CHECK(r.test_accuracy <= 1);
    const double right = r.test_accuracy * static_cast<double>(data.test.size());
    CHECK(right == Approx(std::round(right)).margin(1e-6));
    ++runs;
  }
  // 5 block kinds x 4 activations x 3 poolings x batch norm on/off.
  CHECK(runs == 120);
}

}  // namespace

TEST_CASE("every block kind, activation, pooling and head trains in float32") {
  train_every_block_combination(nnilib::Precision::kFp32);
}

TEST_CASE("every block kind, activation, pooling and head trains in bf16") {
  if (!native_bf16()) NNILIB_SKIP("this CPU has no bfloat16 instructions");
  train_every_block_combination(nnilib::Precision::kBf16);
}

TEST_CASE("auto follows the CPU rule, and the probe times both precisions") {
  const nnilib::CpuFeatures cpu = nnilib::detect_cpu_features();
  const nnilib::PrecisionDecision d =
      nnilib::decide_cpu_precision(nnilib::Precision::kAuto, cpu, torch::hasMKLDNN());
  const auto spec = nnilib::trial_spec_from_parameters(
      json{{"epochs", 1}, {"filter_size_c1", 32}, {"filter_size_c2", 32}, {"nb_units", 80}});
  Recorder rec;
  const auto r = nnilib::train(spec, tiny(), options(), rec);
  INFO(r.start.precision << " (" << r.start.precision_reason << ") on " << nnilib::describe(cpu));
  if (d.precision) {
    CHECK(r.start.precision == nnilib::to_string(*d.precision));
    CHECK(r.start.precision_reason == "auto: " + d.reason);
  } else {
    // Probed: the decision follows the timings the reason reports, by the probe's rule
    // (the rule itself is tested against controlled timings in test_precision).
    const std::string prefix = "auto: " + d.reason + ": ";
    REQUIRE_THAT(r.start.precision_reason, Catch::StartsWith(prefix));
    nnilib::PrecisionProbe p;
    const std::string rest = r.start.precision_reason.substr(prefix.size());
    if (rest.rfind("bf16 does not run", 0) == 0) {
      CHECK(r.start.precision == "fp32");
    } else {
      int batch = 0;
      REQUIRE(std::sscanf(rest.c_str(), "probe %lf ms per bf16 step vs %lf ms fp32 (batch %d",
                          &p.bf16_ms, &p.fp32_ms, &batch) == 3);
      CHECK(batch == spec.hyper.batch_size);  // the trial's own batch
      p.bf16_works = true;
      // The reason rounds to 0.1 ms: at the margin itself either answer is the rule's.
      const double gap = p.bf16_ms - nnilib::PrecisionProbe::kBf16Margin * p.fp32_ms;
      if (std::abs(gap) > 0.1) CHECK(r.start.precision == (p.bf16_faster() ? "bf16" : "fp32"));
    }
  }
  // The probe itself runs anywhere and returns real timings.
  const nnilib::PrecisionProbe p = nnilib::probe_precision(spec.model, "cpu", 32);
  CHECK(p.fp32_ms > 0);
  if (native_bf16()) CHECK(p.bf16_works);  // elsewhere bf16 may lack kernels: fp32 then
  if (p.bf16_works) CHECK(p.bf16_ms > 0);
  if (p.bf16_works) CHECK((p.pairs >= 1 && p.pairs <= 3));
  CHECK(p.fp32_ms < 5000);
  // A stop asked for during the probe ends it before the next step.
  int asked = 0;
  CHECK_THROWS_AS(nnilib::probe_precision(spec.model, "cpu", 32, [&] { return ++asked == 3; }),
                  nnilib::Interrupted);
  CHECK(asked == 3);
}

TEST_CASE("on CUDA, bf16 and auto train (skipped without a GPU)") {
  if (!torch::cuda::is_available())
    NNILIB_SKIP("no CUDA device (this LibTorch build or this machine has none)");
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 2}});
  for (nnilib::Precision precision : {nnilib::Precision::kAuto, nnilib::Precision::kBf16}) {
    auto o = options();
    o.device = "cuda";
    o.precision = precision;
    Recorder rec;
    const auto r = nnilib::train(spec, subset(), o, rec);
    INFO(r.start.precision << " (" << r.start.precision_reason << ")");
    CHECK(r.start.device.rfind("cuda", 0) == 0);
    CHECK((r.start.precision == "bf16" || r.start.precision == "fp32"));
    CHECK(r.final_val_accuracy > 0.70);
  }
}

namespace {

// The parameters and buffers of the weights file `path`, by name.
std::map<std::string, torch::Tensor> saved_weights(const nnilib::TrialSpec& spec,
                                                   const std::string& path) {
  nnilib::Cnn model(spec.model);
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  model->load(archive);
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model->named_parameters()) out[p.key()] = p.value().clone();
  for (const auto& b : model->named_buffers()) out[b.key()] = b.value().clone();
  return out;
}

}  // namespace

TEST_CASE("a run promoted 1 -> 3 -> 9 epochs from checkpoints is the run trained straight") {
  const auto data = subset(512, 256, 128);
  const json params = json::parse(R"({
    "num_blocks": 2,
    "conv1": {"_name": "residual", "channels": 8},
    "conv2": {"_name": "plain", "channels": 16},
    "head": "gap", "dropout": 0.1,
    "optimizer": {"_name": "adamw", "learning_rate": 0.004, "weight_decay": 0.01},
    "schedule": "one_cycle", "label_smoothing": 0.1, "batch_size": 64,
    "augment_crop": 2, "augment_flip": true, "augment_erasing": 0.25
  })");
  auto with_epochs = [&](int epochs) { return spec_with_epochs(params, epochs); };
  const std::string dir = testutil::temp_dir();
  auto o = options();
  o.precision = nnilib::Precision::kFp32;
  o.schedule_epochs = 9;

  auto straight = o;
  straight.weights_path = dir + "/straight.pt";
  Recorder rs;
  const auto r9 = nnilib::train(with_epochs(9), data, straight, rs);
  REQUIRE(r9.curve.size() == 9);

  auto piece = o;
  piece.checkpoint_path = dir + "/ckpt1.pt";
  Recorder r1;
  nnilib::train(with_epochs(1), data, piece, r1);
  piece.resume_from = dir + "/ckpt1.pt";
  piece.checkpoint_path = dir + "/ckpt3.pt";
  Recorder r3;
  const auto third = nnilib::train(with_epochs(3), data, piece, r3);
  CHECK(third.resumed_epochs == 1);
  CHECK(r3.epochs.size() == 2);  // only the epochs trained in this piece are observed
  piece.resume_from = dir + "/ckpt3.pt";
  piece.checkpoint_path = dir + "/ckpt9.pt";
  piece.weights_path = dir + "/pieces.pt";
  Recorder rp;
  const auto pieces = nnilib::train(with_epochs(9), data, piece, rp);
  REQUIRE(pieces.curve.size() == 9);  // the whole curve, resumed epochs included
  CHECK(pieces.resumed_epochs == 3);
  for (int i = 0; i < 9; ++i) {
    INFO("epoch " << i + 1);
    CHECK(pieces.curve[i].train_loss == Approx(r9.curve[i].train_loss).epsilon(1e-5));
    CHECK(pieces.curve[i].val_accuracy == Approx(r9.curve[i].val_accuracy).margin(1e-9));
  }
  CHECK(pieces.test_accuracy == Approx(r9.test_accuracy).margin(1e-9));
  const auto a = saved_weights(with_epochs(9), dir + "/straight.pt");
  const auto b = saved_weights(with_epochs(9), dir + "/pieces.pt");
  REQUIRE(a.size() == b.size());
  for (const auto& [name, tensor] : a) {
    INFO(name);
    CHECK(torch::allclose(tensor.to(torch::kDouble), b.at(name).to(torch::kDouble), 1e-5, 1e-6));
  }

  // A checkpoint is continued only by the run it belongs to, and never silently skipped.
  auto error_of = [&](const json& p, nnilib::TrainOptions opt) {
    Recorder r;
    return testutil::error_of(
        [&] { nnilib::train(nnilib::trial_spec_from_parameters(p), data, opt, r); });
  };
  json other = params;
  other["optimizer"]["learning_rate"] = 0.002;
  other["epochs"] = 9;
  auto resume = o;
  resume.resume_from = dir + "/ckpt3.pt";
  CHECK_THAT(error_of(other, resume),
             Catch::Contains("ckpt3.pt: made for another run") && Catch::Contains("learning_rate"));
  auto other_seed = resume;
  other_seed.seed = 6;
  CHECK_THAT(error_of(with_epochs(9).parameters, other_seed),
             Catch::Contains("seed: 5 in the checkpoint, 6 now"));
  json fewer = params;
  fewer["epochs"] = 2;
  CHECK_THAT(error_of(fewer, resume),
             Catch::Contains("holds 24 steps, more than the 2 epochs (16 steps) to train"));
  auto missing = o;
  missing.resume_from = dir + "/none.pt";
  CHECK_THAT(error_of(with_epochs(9).parameters, missing),
             Catch::Contains("none.pt: no such checkpoint file"));
  { std::ofstream(dir + "/junk.pt") << "not a checkpoint at all"; }
  auto junk = o;
  junk.resume_from = dir + "/junk.pt";
  CHECK_THAT(error_of(with_epochs(9).parameters, junk),
             Catch::Contains("junk.pt: not a readable fmnist-trial checkpoint"));
  // Truncated: the zip's directory is gone.
  std::filesystem::copy_file(dir + "/ckpt3.pt", dir + "/cut.pt");
  std::filesystem::resize_file(dir + "/cut.pt", std::filesystem::file_size(dir + "/cut.pt") / 2);
  auto cut = o;
  cut.resume_from = dir + "/cut.pt";
  CHECK_THAT(error_of(with_epochs(9).parameters, cut), Catch::Contains("cut.pt: "));
}

TEST_CASE("saved weights evaluate to the run's figures, and flip TTA ignores mirroring") {
  const auto data = subset(/*train=*/2000, /*val=*/500, /*test=*/500);
  const auto spec = nnilib::trial_spec_from_parameters(json::parse(R"({
    "num_blocks": 2, "conv1": {"_name": "plain", "channels": 16},
    "conv2": {"_name": "residual", "channels": 32}, "head": "gap", "augment_flip": true,
    "optimizer": {"_name": "adamw", "learning_rate": 0.003}, "epochs": 1})"));
  auto o = options();
  o.precision = nnilib::Precision::kFp32;
  o.weights_path = testutil::temp_dir() + "/tta.pt";
  Recorder rec;
  const auto trained = nnilib::train(spec, data, o, rec);
  REQUIRE(trained.curve.size() == 1);
  CHECK(trained.test_accuracy_without_tta == -1);  // no TTA, no second figure
  CHECK(nnilib::summary_json(spec, trained)["test_time_augmentation"] == "none");

  // The saved weights give the run's own figures back.
  const auto plain = nnilib::evaluate_weights(spec, data, o, o.weights_path, rec);
  CHECK(plain.curve.empty());
  CHECK(plain.final_val_accuracy == trained.final_val_accuracy);
  CHECK(plain.final_val_loss == Approx(trained.final_val_loss).epsilon(1e-5));
  CHECK(plain.test_accuracy == trained.test_accuracy);

  // Flip TTA sees each image and its mirror, so mirroring every image changes nothing;
  // without it, the mirrored split is a different evaluation.
  nnilib::Dataset mirrored = data;
  mirrored.val.images = data.val.images.flip({3}).contiguous();
  mirrored.test.images = data.test.images.flip({3}).contiguous();
  auto tta = o;
  tta.flip_tta = true;
  const auto a = nnilib::evaluate_weights(spec, data, tta, o.weights_path, rec);
  const auto b = nnilib::evaluate_weights(spec, mirrored, tta, o.weights_path, rec);
  CHECK(a.start.flip_tta);
  CHECK(a.final_val_accuracy == b.final_val_accuracy);
  CHECK(a.final_val_loss == Approx(b.final_val_loss).epsilon(1e-5));
  CHECK(a.test_accuracy == b.test_accuracy);
  const auto c = nnilib::evaluate_weights(spec, mirrored, o, o.weights_path, rec);
  CHECK(c.final_val_loss != Approx(plain.final_val_loss).epsilon(1e-5));
  // The loss is that of the averaged probabilities: between the two views' own losses
  // (the log of a mean is at least the mean of the logs, image by image).
  CHECK(a.final_val_loss <= (plain.final_val_loss + c.final_val_loss) / 2 + 1e-6);

  // Training with TTA reports the test accuracy with and without it.
  const auto t = nnilib::train(spec, data, tta, rec);
  CHECK(t.test_accuracy_without_tta == trained.test_accuracy);  // same seed, same weights
  CHECK(t.test_accuracy == a.test_accuracy);  // what evaluate_weights gives those weights
  const json s = nnilib::summary_json(spec, t);
  CHECK(s["test_time_augmentation"] == "flip");
  CHECK(s["test_accuracy_without_tta"] == trained.test_accuracy);

  // Weights of another architecture, or no file, name the file.
  const auto other = nnilib::trial_spec_from_parameters(json{{"epochs", 1}});
  CHECK_THROWS_WITH(nnilib::evaluate_weights(other, data, o, o.weights_path, rec),
                    Catch::StartsWith(o.weights_path + ": not the weights of this architecture ("));
  CHECK_THROWS_WITH(nnilib::evaluate_weights(spec, data, o, o.weights_path + ".missing", rec),
                    o.weights_path + ".missing: no such weights file");
}

TEST_CASE(
    "budgets that end inside an epoch continue it: 1/3 -> 1 -> 2.5 -> 3 is the run straight") {
  const auto data = subset(512, 256, 128);  // 8 batches of 64 an epoch
  const json params = json::parse(R"({
    "num_blocks": 2, "conv1": {"_name": "residual", "channels": 8},
    "conv2": {"_name": "plain", "channels": 16}, "head": "gap",
    "optimizer": {"_name": "adam", "learning_rate": 0.004}, "schedule": "cosine",
    "batch_size": 64, "augment_crop": 2, "augment_flip": true, "augment_erasing": 0.25
  })");
  auto at_budget = [&](double budget) {
    json p = params;
    p["TRIAL_BUDGET"] = budget;
    return nnilib::trial_spec_from_parameters(p);
  };
  const std::string dir = testutil::temp_dir();
  auto o = options();
  o.precision = nnilib::Precision::kFp32;
  o.schedule_epochs = 3;
  auto straight = o;
  straight.weights_path = dir + "/straight.pt";
  Recorder rs;
  const auto r3 = nnilib::train(at_budget(3), data, straight, rs);
  REQUIRE(r3.curve.size() == 3);

  nnilib::TrainResult last;
  std::string from;
  int k = 0;
  for (double budget : {1.0 / 3, 1.0, 2.5, 3.0}) {
    INFO("budget " << budget);
    auto piece = o;
    piece.resume_from = from;
    piece.checkpoint_path = dir + "/piece" + std::to_string(++k) + ".pt";
    piece.weights_path = dir + "/pieces.pt";
    Recorder r;
    last = nnilib::train(at_budget(budget), data, piece, r);
    REQUIRE_FALSE(r.epochs.empty());
    // The figures after the budget: a third of epoch 1 is 3 of its 8 batches.
    const double done = budget == 1.0 / 3 ? 3.0 / 8 : budget;
    CHECK(r.epochs.back().epochs_done == Approx(done));
    CHECK(last.curve.back().epochs_done == Approx(done));
    from = piece.checkpoint_path;
  }
  // Each whole epoch's figures equal the straight run's (a partial epoch's sums are in the
  // checkpoint), and so do the weights.
  std::vector<nnilib::EpochStats> whole;
  for (const auto& e : last.curve)
    if (e.epochs_done == e.epoch) whole.push_back(e);
  REQUIRE(whole.size() == 3);
  for (int i = 0; i < 3; ++i) {
    INFO("epoch " << i + 1);
    CHECK(whole[i].train_loss == Approx(r3.curve[i].train_loss).epsilon(1e-5));
    CHECK(whole[i].val_accuracy == Approx(r3.curve[i].val_accuracy).margin(1e-9));
  }
  CHECK(last.test_accuracy == Approx(r3.test_accuracy).margin(1e-9));
  const auto a = saved_weights(at_budget(3), dir + "/straight.pt");
  const auto b = saved_weights(at_budget(3), dir + "/pieces.pt");
  for (const auto& [name, tensor] : a) {
    INFO(name);
    CHECK(torch::allclose(tensor.to(torch::kDouble), b.at(name).to(torch::kDouble), 1e-5, 1e-6));
  }

  // The precision is part of the run: auto continues in the checkpoint's, another one
  // asked for is refused.
  auto resume = o;
  resume.resume_from = dir + "/piece1.pt";
  resume.precision = nnilib::Precision::kAuto;
  Recorder ra;
  const auto continued = nnilib::train(at_budget(1), data, resume, ra);
  CHECK(continued.start.precision == "fp32");
  CHECK(continued.start.precision_reason == "auto: as the checkpoint it continues");
  resume.precision = nnilib::Precision::kBf16;
  CHECK_THAT(testutil::error_of([&] {
               Recorder r;
               nnilib::train(at_budget(1), data, resume, r);
             }),
             Catch::Contains("piece1.pt: made for another run") &&
                 Catch::Contains("precision: \"fp32\" in the checkpoint, \"bf16\" now"));
}

TEST_CASE("a deadline: the run trains the epochs that fit, its schedule spanning them") {
  const auto data = subset(2048, 0, 256);
  json params = json::parse(R"({"num_blocks": 2, "conv1": {"_name": "plain", "channels": 16},
    "conv2": {"_name": "plain", "channels": 32}, "schedule": "one_cycle", "batch_size": 64,
    "epochs": 1000})");
  const auto spec = nnilib::trial_spec_from_parameters(params);
  auto o = options();
  o.precision = nnilib::Precision::kFp32;
  o.threads = 1;
  const auto start = std::chrono::steady_clock::now();
  o.deadline = start + std::chrono::seconds(12);
  Recorder r;
  const auto result = nnilib::train(spec, data, o, r);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_FALSE(result.interrupted);
  CHECK(took <= 12.5);
  CHECK(result.planned_epochs == 1000);
  CHECK(result.fitted_epochs >= 1);
  CHECK(result.fitted_epochs < 1000);
  CHECK(result.fitted_epochs == std::floor(result.fitted_epochs));  // whole epochs
  CHECK(result.curve.size() == static_cast<std::size_t>(result.fitted_epochs));
  CHECK(result.test_accuracy > 0.5);  // tested, and the schedule annealed: it learned
  const json summary = nnilib::summary_json(spec, result);
  CHECK(summary["time_limit"]["planned_epochs"] == 1000);
  CHECK(summary["time_limit"]["trained_epochs"] == result.fitted_epochs);
  // A deadline fits a schedule of its own: not with a checkpoint's.
  o.schedule_epochs = 9;
  CHECK_THROWS_WITH(nnilib::train(spec, data, o, r),
                    Catch::Contains("cannot be combined with --checkpoint, --resume-from"));
}

TEST_CASE("predictions: every image's class probabilities, which give the run's accuracy") {
  const auto data = subset(1024, 256, 200);
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 1}, {"nb_units", 80}});
  auto o = options();
  o.precision = nnilib::Precision::kFp32;
  o.flip_tta = true;
  o.predictions_path = testutil::temp_dir() + "/predictions.json";
  Recorder r;
  const auto result = nnilib::train(spec, data, o, r);
  const json p = json::parse(std::ifstream(o.predictions_path));
  CHECK(p["format"] == "nnilib-predictions-1");
  CHECK(p["test_time_augmentation"] == "flip");
  for (const char* split : {"validation", "test"}) {
    INFO(split);
    const json& s = p[split];
    REQUIRE(s["labels"].size() == (std::string(split) == "test" ? 200u : 256u));
    REQUIRE(s["probabilities"].size() == s["labels"].size());
    int correct = 0;
    for (std::size_t i = 0; i < s["labels"].size(); ++i) {
      const auto& row = s["probabilities"][i];
      REQUIRE(row.size() == 10);
      double sum = 0;
      std::size_t top = 0;
      for (std::size_t c = 0; c < 10; ++c) {
        sum += row[c].get<double>();
        if (row[c].get<double>() > row[top].get<double>()) top = c;
      }
      CHECK(sum == Approx(1).margin(1e-4));
      correct += top == s["labels"][i].get<std::size_t>();
    }
    const double accuracy = correct / static_cast<double>(s["labels"].size());
    CHECK(accuracy ==
          Approx(std::string(split) == "test" ? result.test_accuracy : result.final_val_accuracy)
              .margin(1e-9));
  }
}

TEST_CASE("weight averaging: avg = d * avg + (1 - d) * w after each step, d warmed up") {
  CHECK(nnilib::WeightAverage::decay_at(0.999, 1) == Approx(0.1));  // (1 + 0) / (10 + 0)
  CHECK(nnilib::WeightAverage::decay_at(0.999, 91) == Approx(0.91));
  CHECK(nnilib::WeightAverage::decay_at(0.999, 100000) == 0.999);
  const auto spec = nnilib::trial_spec_from_parameters(json::parse(R"({
    "num_blocks": 2, "conv1": {"_name": "plain", "channels": 8},
    "conv2": {"_name": "residual", "channels": 16}, "head": "gap"})"));
  nnilib::Cnn model(spec.model);
  nnilib::WeightAverage average(model, /*decay=*/0.5);
  std::vector<torch::Tensor> start;
  for (const auto& t : average.tensors()) start.push_back(t.clone());
  // Float parameters and batch-norm statistics are averaged; the batch counters are not.
  int64_t floats = 0;
  for (const auto& p : model->parameters()) floats += p.is_floating_point();
  for (const auto& b : model->buffers()) floats += b.is_floating_point();
  REQUIRE(static_cast<int64_t>(average.tensors().size()) == floats);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(1.0);
    for (auto& b : model->buffers())
      if (b.is_floating_point()) b.add_(1.0);
  }
  average.update(/*steps=*/1000);  // decay 0.5 (below the warm-up's 0.991)
  for (std::size_t i = 0; i < start.size(); ++i)
    CHECK(torch::allclose(average.tensors()[i], start[i] + 0.5));
  // swap() exchanges the model's weights and the average, and back.
  const torch::Tensor first = model->parameters().front().clone();
  average.swap();
  CHECK(torch::allclose(model->parameters().front(), start.front() + 0.5));
  CHECK(torch::allclose(average.tensors().front(), first));
  average.swap();
  CHECK(torch::allclose(model->parameters().front(), first));
}

TEST_CASE("weight averaging trains the same weights and saves their average") {
  const auto data = subset(/*train=*/1024, /*val=*/256, /*test=*/256);
  const json params = json::parse(R"({
    "num_blocks": 2, "conv1": {"_name": "plain", "channels": 8},
    "conv2": {"_name": "residual", "channels": 16}, "head": "gap", "batch_size": 64,
    "optimizer": {"_name": "adamw", "learning_rate": 0.004}, "schedule": "one_cycle",
    "augment_crop": 2, "augment_flip": true})");
  auto with_epochs = [&](int epochs) { return spec_with_epochs(params, epochs); };
  const std::string dir = testutil::temp_dir();
  auto o = options();
  o.precision = nnilib::Precision::kFp32;
  Recorder rec;

  auto plain = o;
  plain.weights_path = dir + "/plain.pt";
  const auto p = nnilib::train(with_epochs(3), data, plain, rec);
  REQUIRE(p.test_accuracy_without_ema == -1);
  CHECK_FALSE(nnilib::summary_json(with_epochs(3), p).contains("weight_average"));

  auto ema = o;
  ema.ema_epochs = 1;
  ema.weights_path = dir + "/ema.pt";
  const auto e = nnilib::train(with_epochs(3), data, ema, rec);
  // The average never feeds back into training: the last weights are the plain run's.
  CHECK(e.test_accuracy_without_ema == p.test_accuracy);
  CHECK(e.val_accuracy_without_ema == p.final_val_accuracy);
  CHECK(e.ema_decay == Approx(1.0 - 1.0 / 16));  // 16 steps per epoch
  const json s = nnilib::summary_json(with_epochs(3), e);
  CHECK(s["weight_average"]["ema_epochs"] == 1.0);
  CHECK(s["test_accuracy_without_ema"] == p.test_accuracy);
  // What is saved and tested is the average: other weights, the run's test figure.
  const auto saved = nnilib::evaluate_weights(with_epochs(3), data, o, ema.weights_path, rec);
  CHECK(saved.test_accuracy == e.test_accuracy);
  CHECK(saved.final_val_accuracy == e.final_val_accuracy);  // the curve measures the average
  const auto a = saved_weights(with_epochs(3), plain.weights_path);
  const auto b = saved_weights(with_epochs(3), ema.weights_path);
  CHECK_FALSE(torch::allclose(a.at("output.weight"), b.at("output.weight")));

  // A time constant far below a step: the average is the last weights.
  auto instant = o;
  instant.ema_epochs = 1e-6;
  const auto i = nnilib::train(with_epochs(1), data, instant, rec);
  CHECK(i.ema_decay == 0);
  CHECK(i.test_accuracy == i.test_accuracy_without_ema);

  // Promoted 1 -> 3 epochs from a checkpoint: the average continues as in a straight run.
  auto piece = ema;
  piece.schedule_epochs = 3;
  piece.checkpoint_path = dir + "/ckpt1.pt";
  piece.weights_path = "";
  nnilib::train(with_epochs(1), data, piece, rec);
  auto straight = ema;
  straight.schedule_epochs = 3;
  straight.weights_path = dir + "/straight.pt";
  const auto st = nnilib::train(with_epochs(3), data, straight, rec);
  piece.resume_from = dir + "/ckpt1.pt";
  piece.checkpoint_path = dir + "/ckpt3.pt";
  piece.weights_path = dir + "/pieces.pt";
  const auto pc = nnilib::train(with_epochs(3), data, piece, rec);
  CHECK(pc.test_accuracy == Approx(st.test_accuracy).margin(1e-9));
  const auto ws = saved_weights(with_epochs(3), straight.weights_path);
  const auto wp = saved_weights(with_epochs(3), piece.weights_path);
  for (const auto& [name, tensor] : ws) {
    INFO(name);
    CHECK(torch::allclose(tensor.to(torch::kDouble), wp.at(name).to(torch::kDouble), 1e-5, 1e-6));
  }
  // A checkpoint with an average is continued only with the same one.
  auto without = piece;
  without.ema_epochs = 0;
  without.resume_from = dir + "/ckpt1.pt";
  CHECK_THAT(testutil::error_of([&] { nnilib::train(with_epochs(3), data, without, rec); }),
             Catch::Contains("ckpt1.pt: made for another run") && Catch::Contains("ema_epochs"));

  auto negative = o;
  negative.ema_epochs = -1;
  CHECK_THROWS_WITH(nnilib::train(with_epochs(1), data, negative, rec),
                    Catch::StartsWith("--ema-epochs -1: expected 0"));
}
