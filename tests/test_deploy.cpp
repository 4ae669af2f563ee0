// ONNX export (nnilib::deploy): graphs that Debian's ONNX library accepts and that ONNX
// Runtime (onnxruntime-node's CPU binary, scripts/onnxruntime) runs as LibTorch does, on
// 1,000 real test images, for every block kind, activation, pooling and head and for a
// model trained in bf16; fmnist-trial's --export-onnx and its errors.
#include <catch2/catch.hpp>

#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "nni_standin/child_process.h"
#include "nnilib/common/error.h"
#include "nnilib/data/data.h"
#include "nnilib/deploy/onnx_export.h"
#include "nnilib/deploy/onnx_model.h"
#include "nnilib/model/model.h"
#include "nnilib/train/precision.h"
#include "nnilib/train/trainer.h"
#include "test_util.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kOnnxRuntimeDir = NNILIB_SOURCE_DIR "/scripts/onnxruntime";

bool onnxruntime_installed() {
  return std::string(NNILIB_NODE).size() > 0 &&
         fs::exists(kOnnxRuntimeDir + "/node_modules/onnxruntime-node/package.json");
}
#define REQUIRE_ONNXRUNTIME()                                                                  \
  if (!onnxruntime_installed())                                                                \
  NNILIB_SKIP("node or ONNX Runtime is not installed (bash scripts/setup.sh installs it in " + \
              kOnnxRuntimeDir + ")")

// A logit agrees when within this of LibTorch's: both compute in float32, with different
// convolution algorithms and summation orders.
constexpr double kAbsTolerance = 1e-4;
constexpr double kRelTolerance = 1e-4;

nnilib::DataOptions data_options(int64_t train, int64_t test) {
  nnilib::DataOptions o;
  o.dir = testutil::data_dir();
  o.val_size = 500;
  o.train_size = train;
  o.test_size = test;
  return o;
}

// The first 1,000 real test images: normalized as LibTorch sees them, and their pixels in
// [0, 1] as the ONNX graph takes them (written to pixels.f32).
struct Sample {
  torch::Tensor normalized;
  std::string pixels_path;
};

const Sample& sample() {
  static const Sample s = [] {
    const nnilib::Dataset data = nnilib::load_dataset(data_options(100, 1000));
    Sample r;
    r.normalized = data.test.images.contiguous();
    const auto& info = data.info;
    const torch::Tensor pixels =
        (r.normalized * info.std[0] + info.mean[0]).clamp(0, 1).to(torch::kFloat32).contiguous();
    r.pixels_path = testutil::temp_dir() + "/pixels.f32";
    std::ofstream(r.pixels_path, std::ios::binary)
        .write(static_cast<const char*>(pixels.data_ptr()),
               static_cast<std::streamsize>(pixels.numel() * sizeof(float)));
    return r;
  }();
  return s;
}

// Batch norm's statistics and affine parameters set to random values, so that their
// export is checked with more than the identity a fresh model starts with.
void randomize_norms(nnilib::Cnn& model) {
  torch::NoGradGuard no_grad;
  for (auto& b : model->named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.5, 0.5);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
  }
  for (auto& p : model->named_parameters())
    if (p.key().find(".norm.") != std::string::npos) p.value().uniform_(0.5, 1.5);
}

// In channels-last order, as the trainer evaluates (the fast layout for oneDNN on a CPU).
torch::Tensor torch_logits(nnilib::Cnn& model, const torch::Tensor& images) {
  torch::InferenceMode guard;
  model->eval();
  nnilib::to_channels_last(*model);
  return model->forward(nnilib::to_nhwc(images)).contiguous();
}

// ONNX Runtime's logits of each model on sample()'s pixels, in a real node process.
void run_onnxruntime(const std::vector<std::string>& models) {
  std::vector<std::string> argv = {NNILIB_NODE, kOnnxRuntimeDir + "/run_onnx.mjs", "logits",
                                   sample().pixels_path};
  argv.insert(argv.end(), models.begin(), models.end());
  nnilib::standin::ChildProcess node(argv, {});
  const auto r = node.wait(std::chrono::minutes(5));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

struct Agreement {
  int64_t images = 0;
  int64_t same_top1 = 0;
  double max_abs_diff = 0;
  int64_t outside_tolerance = 0;
};

Agreement compare(const torch::Tensor& reference, const std::string& logits_path) {
  std::ifstream in(logits_path, std::ios::binary);
  std::vector<float> values(static_cast<std::size_t>(reference.numel()));
  in.read(reinterpret_cast<char*>(values.data()),
          static_cast<std::streamsize>(values.size() * sizeof(float)));
  REQUIRE(in.gcount() == static_cast<std::streamsize>(values.size() * sizeof(float)));
  REQUIRE(in.peek() == EOF);
  const torch::Tensor onnx = torch::from_blob(values.data(), reference.sizes()).clone();
  Agreement a;
  a.images = reference.size(0);
  a.same_top1 = (onnx.argmax(1) == reference.argmax(1)).sum().item<int64_t>();
  const torch::Tensor diff = (onnx - reference).abs();
  a.max_abs_diff = diff.max().item<double>();
  a.outside_tolerance =
      (diff > kAbsTolerance + kRelTolerance * reference.abs()).sum().item<int64_t>();
  return a;
}

void check_agreement(const Agreement& a) {
  INFO("max |logit difference| " << a.max_abs_diff);
  CHECK(a.images == 1000);
  CHECK(a.same_top1 == a.images);
  CHECK(a.outside_tolerance == 0);
}

void save(nnilib::Cnn& model, const std::string& path) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  archive.save_to(path);
}

}  // namespace

TEST_CASE("every block kind, activation, pooling and head: ONNX Runtime agrees with LibTorch") {
  REQUIRE_ONNXRUNTIME();
  const std::string dir = testutil::temp_dir() + "/every";
  fs::create_directories(dir);
  std::vector<std::string> models;
  std::vector<torch::Tensor> references;
  std::vector<json> combinations = testutil::every_block_combination();
  for (std::size_t i = 0; i < combinations.size(); ++i) {
    // (The hidden layer's activation is the blocks'.)
    const nnilib::TrialSpec spec = nnilib::trial_spec_from_parameters(combinations[i]);
    torch::manual_seed(static_cast<uint64_t>(i));
    nnilib::Cnn model(spec.model);
    randomize_norms(model);
    const std::string weights = dir + "/" + std::to_string(i) + ".pt";
    save(model, weights);
    const std::string onnx = dir + "/" + std::to_string(i) + ".onnx";
    const nnilib::OnnxExportResult r =
        nnilib::export_onnx(spec, data_options(100, 1000), weights, onnx);
    CHECK(r.bytes == static_cast<int64_t>(fs::file_size(onnx)));
    models.push_back(onnx);
    references.push_back(torch_logits(model, sample().normalized));
  }
  run_onnxruntime(models);
  double worst = 0;
  for (std::size_t i = 0; i < models.size(); ++i) {
    INFO(combinations[i].dump());
    const Agreement a = compare(references[i], models[i] + ".logits.f32");
    check_agreement(a);
    worst = std::max(worst, a.max_abs_diff);
  }
  std::printf(
      "ONNX Runtime vs LibTorch, %zu models x 1,000 images: top-1 identical, "
      "max |logit difference| %.2g\n",
      models.size(), worst);
  CHECK(models.size() == 120);
}

TEST_CASE("a model trained in bf16 exports, and ONNX Runtime agrees with LibTorch in float32") {
  REQUIRE_ONNXRUNTIME();
  const nnilib::CpuFeatures cpu = nnilib::detect_cpu_features();
  if (!cpu.amx_bf16 && !cpu.avx512_bf16)
    NNILIB_SKIP("this CPU has no bfloat16 instructions (" + nnilib::describe(cpu) + ")");
  const std::string dir = testutil::temp_dir() + "/bf16";
  fs::create_directories(dir);
  // A residual model with batch norm and global average pooling, one epoch on 2,000 images.
  const json params = {{"num_blocks", 2},      {"block_type", "residual"},
                       {"batch_norm", true},   {"conv1_channels", 16},
                       {"conv2_channels", 24}, {"pool", "max"},
                       {"activation", "silu"}, {"head", "gap"},
                       {"hidden_units", 32},   {"epochs", 1},
                       {"batch_size", 64}};
  const nnilib::TrialSpec spec = nnilib::trial_spec_from_parameters(params);
  nnilib::TrainOptions o;
  o.device = "cpu";
  o.seed = 3;
  o.precision = nnilib::Precision::kBf16;
  o.weights_path = dir + "/model.pt";
  nnilib::TrainObserver quiet;
  const nnilib::TrainResult trained = nnilib::train(spec, data_options(2000, 1000), o, quiet);
  REQUIRE(trained.start.precision == "bf16");
  REQUIRE(trained.test_accuracy > 0.2);  // it learned: twice chance

  const std::string onnx = dir + "/model.onnx";
  nnilib::export_onnx(spec, data_options(2000, 1000), o.weights_path, onnx);
  nnilib::Cnn model(spec.model);
  nnilib::load_weights(model, o.weights_path, torch::kCPU);
  const torch::Tensor reference = torch_logits(model, sample().normalized);
  run_onnxruntime({onnx});
  const Agreement a = compare(reference, onnx + ".logits.f32");
  check_agreement(a);
  std::printf(
      "bf16-trained model: ONNX Runtime vs LibTorch (float32) top-1 %lld/%lld, max "
      "|logit difference| %.2g\n",
      static_cast<long long>(a.same_top1), static_cast<long long>(a.images), a.max_abs_diff);
}

namespace {

// A one-block model small enough to write its weights by hand: conv 2 x 3x3 (valid) ->
// flatten (2 x 26 x 26) -> Linear(10).
nnilib::ModelSpec tiny_spec() {
  nnilib::ModelSpec spec;
  nnilib::ConvBlockSpec b;
  b.out_channels = 2;
  b.kernel_size = 3;
  spec.blocks = {b};
  spec.hidden_units = 0;
  return spec;
}

nnilib::ModelWeights tiny_weights() {
  const auto tensor = [](std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return nnilib::WeightTensor{shape, std::vector<float>(static_cast<std::size_t>(n), 0.01f)};
  };
  return {{"blocks.0.first.conv.weight", tensor({2, 1, 3, 3})},
          {"blocks.0.first.conv.bias", tensor({2})},
          {"output.weight", tensor({10, 2 * 26 * 26})},
          {"output.bias", tensor({10})}};
}

nnilib::OnnxExportOptions tiny_options() {
  nnilib::OnnxExportOptions o;
  o.mean = {0.25f};
  o.std = {0.5f};
  o.class_names = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  o.metadata = {{"test_accuracy", "0.5"}};
  o.producer_version = "9.9";
  return o;
}

}  // namespace

TEST_CASE("the ONNX graph: opset, a dynamic batch, the input's meaning in its metadata") {
  const std::string bytes = nnilib::onnx_model_bytes(tiny_spec(), tiny_weights(), tiny_options());
  onnx::ModelProto m;
  REQUIRE(m.ParseFromString(bytes));
  CHECK(m.producer_name() == "nnilib");
  CHECK(m.producer_version() == "9.9");
  REQUIRE(m.opset_import_size() == 1);
  CHECK(m.opset_import(0).version() == nnilib::kOnnxOpset);
  const auto& input = m.graph().input(0);
  CHECK(input.name() == nnilib::kOnnxInputName);
  const auto& dims = input.type().tensor_type().shape().dim();
  REQUIRE(dims.size() == 4);
  CHECK(dims[0].dim_param() == "batch");
  CHECK(dims[1].dim_value() == 1);
  CHECK(dims[2].dim_value() == 28);
  CHECK(m.graph().output(0).name() == nnilib::kOnnxOutputName);
  CHECK(m.graph().output(0).type().tensor_type().shape().dim(1).dim_value() == 10);
  std::map<std::string, std::string> meta;
  for (const auto& p : m.metadata_props()) meta[p.key()] = p.value();
  CHECK(meta["mean"] == "0.25");
  CHECK(meta["std"] == "0.5");
  CHECK(meta["classes"] == "10");
  CHECK(meta["class_names"].rfind("a\nb\n", 0) == 0);
  CHECK(meta["test_accuracy"] == "0.5");
  CHECK(meta["input"].find("[0, 1]") != std::string::npos);
  CHECK(meta["architecture"] == nnilib::describe(tiny_spec()));
  // Only standard operators, no training-only ones.
  for (const auto& node : m.graph().node()) {
    CHECK(node.domain().empty());
    CHECK(node.op_type() != "Dropout");
  }
}

TEST_CASE("weights that do not fit the architecture are named") {
  nnilib::ModelWeights w = tiny_weights();
  w.erase("output.bias");
  CHECK_THROWS_WITH(nnilib::onnx_model_bytes(tiny_spec(), w, tiny_options()),
                    Catch::Contains("weight output.bias [10] is missing"));
  w = tiny_weights();
  w["blocks.0.first.conv.weight"].shape = {2, 1, 9};
  CHECK_THROWS_WITH(nnilib::onnx_model_bytes(tiny_spec(), w, tiny_options()),
                    Catch::Contains("weight blocks.0.first.conv.weight has shape [2, 1, 9]") &&
                        Catch::Contains("needs [2, 1, 3, 3]"));
  w = tiny_weights();
  w["output.weight"].values.pop_back();
  CHECK_THROWS_WITH(nnilib::onnx_model_bytes(tiny_spec(), w, tiny_options()),
                    Catch::Contains("weight output.weight has shape [10, 1352] (13519 values)"));
  w = tiny_weights();
  w["blocks.0.first.norm.running_mean"] = {{2}, {0, 0}};
  CHECK_THROWS_WITH(nnilib::onnx_model_bytes(tiny_spec(), w, tiny_options()),
                    Catch::Contains("weight blocks.0.first.norm.running_mean [2] is not part"));
  nnilib::OnnxExportOptions o = tiny_options();
  o.std = {0};
  CHECK_THROWS_AS(nnilib::onnx_model_bytes(tiny_spec(), tiny_weights(), o), nnilib::ParamError);
  o = tiny_options();
  o.mean = {0.1f, 0.2f, 0.3f};
  CHECK_THROWS_WITH(nnilib::onnx_model_bytes(tiny_spec(), tiny_weights(), o),
                    Catch::Contains("the input mean has 3 values; the model's input has 1"));
  o = tiny_options();
  o.class_names.pop_back();
  CHECK_THROWS_WITH(nnilib::onnx_model_bytes(tiny_spec(), tiny_weights(), o),
                    Catch::Contains("9 class names for 10 classes"));
}

namespace {

nnilib::standin::ProcessResult trial(std::vector<std::string> args) {
  std::vector<std::string> argv = {NNILIB_FMNIST_TRIAL, "--data-dir", testutil::data_dir(),
                                   "--threads", "2"};
  argv.insert(argv.end(), args.begin(), args.end());
  nnilib::standin::ChildProcess p(argv, {});
  return p.wait(std::chrono::minutes(5));
}

}  // namespace

TEST_CASE("fmnist-trial --export-onnx: the test accuracy ONNX Runtime measures is LibTorch's") {
  REQUIRE_ONNXRUNTIME();
  const std::string dir = testutil::temp_dir() + "/cli";
  fs::create_directories(dir);
  const std::string params = R"({"epochs": 1, "filter_size_c1": 32, "filter_size_c2": 32})";
  // Trained, then exported (as the final training does: its weights go to --output-dir).
  const std::string weights = dir + "/model.pt";
  auto r = trial({"--params", params, "--train-size", "3000", "--val-size", "500", "--output-dir",
                  dir, "--quiet", "--export-onnx", dir + "/trained.onnx"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  const std::string onnx = dir + "/out/model.onnx";
  r = trial({"--params", params, "--weights", weights, "--export-onnx", onnx});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("onnx   " + onnx + ": conv32k3 relu > conv32k3 relu maxpool2") !=
        std::string::npos);
  CHECK(fs::file_size(onnx) > 1000);
  CHECK(fs::exists(weights));  // read, never written
  const auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(bytes(onnx) == bytes(dir + "/trained.onnx"));

  r = trial({"--params", params, "--evaluate", weights, "--precision", "fp32", "--val-size", "0",
             "--test-size", "2000", "--output", dir + "/evaluated.json", "--quiet"});
  REQUIRE(r.exit_code == 0);
  const double libtorch = json::parse(std::ifstream(dir + "/evaluated.json"))["test_accuracy"];
  nnilib::standin::ChildProcess node({NNILIB_NODE, kOnnxRuntimeDir + "/run_onnx.mjs", "accuracy",
                                      onnx, testutil::data_dir(), "2000"},
                                     {});
  const auto n = node.wait(std::chrono::minutes(5));
  INFO(n.err);
  REQUIRE(n.exit_code == 0);
  const json ort = json::parse(n.out);
  CHECK(ort["images"] == 2000);
  CHECK(ort["accuracy"].get<double>() == Approx(libtorch).margin(1e-9));
}

TEST_CASE("fmnist-trial --export-onnx: errors name the culprit and write nothing") {
  const std::string dir = testutil::temp_dir() + "/cli-errors";
  fs::create_directories(dir);
  const std::string onnx = dir + "/model.onnx";
  auto r = trial({"--export-onnx", onnx, "--no-save"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--export-onnx exports the trained weights: drop --no-save") !=
        std::string::npos);
  r = trial({"--weights", dir + "/none.pt", "--export-onnx", onnx});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find(dir + "/none.pt: no such weights file") != std::string::npos);
  r = trial({"--weights", dir, "--export-onnx", onnx});  // a directory
  CHECK(r.exit_code == 3);
  CHECK(r.err.find(dir + ": not a file of weights") != std::string::npos);
  // The weights of another architecture.
  const std::string weights = dir + "/small.pt";
  r = trial({"--params", R"({"epochs": 1, "filter_size_c1": 32})", "--train-size", "200",
             "--val-size", "100", "--test-size", "100", "--weights", weights, "--quiet"});
  REQUIRE(r.exit_code == 0);
  r = trial({"--weights", weights, "--export-onnx", onnx});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find(weights + ": not the weights of this architecture") != std::string::npos);
  CHECK_FALSE(fs::exists(onnx));
  r = trial({"--weights", weights, "--export-onnx", weights});
  CHECK(r.exit_code == 2);
  // An output that cannot be written: exit 8, the weights untouched.
  r = trial({"--params", R"({"filter_size_c1": 32})", "--weights", weights, "--export-onnx",
             "/proc/nonexistent/model.onnx"});
  CHECK(r.exit_code == 8);
  CHECK(fs::exists(weights));
}
