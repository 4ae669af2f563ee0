// Training and evaluation throughput of the C++ trial, and how close the training
// loop gets to the machine's float32 matmul rate.
//
//   bench_train [--threads 1 2] [--train-images 6400] [--eval-images 5000] [--json FILE]
//
// For the seed's smallest (32/3, 64/3, 80) and largest (128/5, 128/5, 120)
// architectures it runs nnilib::train() itself (the code path of fmnist-trial):
// one warm-up epoch, then one measured epoch. Training FLOPs per image are counted
// as forward multiply-accumulates x 2 (multiply + add) x 3 (forward, and backward's
// two products: gradients of inputs and of weights).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "nnilib/blas.h"
#include "nnilib/data.h"
#include "nnilib/trainer.h"

namespace {

double matmul_gflops(int threads) {
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  const int64_t n = 2048;
  const torch::Tensor a = torch::randn({n, n});
  const torch::Tensor b = torch::randn({n, n});
  torch::Tensor c = torch::mm(a, b);  // warm-up
  double best = 1e30;
  for (int i = 0; i < 10; ++i) {
    const auto t = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    best =
        std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  return 2.0 * n * n * n / best / 1e9;
}

struct Arch {
  const char* name;
  nlohmann::json params;
};

const std::vector<Arch>& archs() {
  static const std::vector<Arch> list = {
      {"smallest",
       {{"filter_size_c1", 32},
        {"kernel_size_c1", 3},
        {"filter_size_c2", 64},
        {"kernel_size_c2", 3},
        {"nb_units", 80}}},
      {"largest",
       {{"filter_size_c1", 128},
        {"kernel_size_c1", 5},
        {"filter_size_c2", 128},
        {"kernel_size_c2", 5},
        {"nb_units", 120}}},
  };
  return list;
}

/// One configuration of the training loop to measure.
struct Variant {
  std::string name;
  nnilib::LoopTuning tuning;
  int64_t eval_batch = 1000;
};

struct Measurement {
  double train_ips = 0;
  double eval_ips = 0;
  double train_gflops = 0;
  double efficiency = 0;
};

// Runs nnilib::train(): one warm-up epoch, then `repeats` measured epochs, of which the
// fastest counts (this machine is a VM whose speed drifts; the best is the most
// repeatable figure).
Measurement measure(const nnilib::FashionMnist& data, const Arch& arch, int threads,
                    const Variant& v, double peak, int repeats) {
  nlohmann::json params = arch.params;
  params["epochs"] = 1 + repeats;
  const nnilib::TrialSpec spec = nnilib::trial_spec_from_parameters(params);
  nnilib::TrainOptions options;
  options.device = "cpu";
  options.threads = threads;
  options.evaluate_test = false;
  options.eval_batch_size = v.eval_batch;
  options.tuning = v.tuning;
  nnilib::TrainObserver quiet;
  const nnilib::TrainResult r = nnilib::train(spec, data, options, quiet);
  Measurement m;
  for (size_t i = 1; i < r.curve.size(); ++i) {
    m.train_ips = std::max(m.train_ips, r.curve[i].images_per_second);
    m.eval_ips = std::max(m.eval_ips, r.curve[i].eval_images_per_second);
  }
  m.train_gflops = m.train_ips * static_cast<double>(r.start.cost.macs) * 6.0 / 1e9;
  m.efficiency = m.train_gflops / peak;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  nnilib::ensure_fast_openblas(argv, "bench_train");
  std::vector<int> threads = {1, 2};
  int64_t train_images = 6400;
  int64_t eval_images = 5000;
  bool ladder = false;
  int repeats = 3;
  std::string json_path;
  CLI::App app{"bench_train: C++ trial throughput and FLOP efficiency"};
  app.add_option("--threads", threads, "thread counts to measure")->capture_default_str();
  app.add_option("--train-images", train_images, "images in the measured training epoch")
      ->capture_default_str();
  app.add_option("--eval-images", eval_images, "images in the measured evaluation")
      ->capture_default_str();
  app.add_flag("--ladder", ladder,
               "measure the loop optimisations one by one (what each change buys)");
  app.add_option("--repeats", repeats, "measured epochs per figure (the best counts)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--json", json_path, "append one JSON line per measurement to this file");
  CLI11_PARSE(app, argc, argv);

  const nnilib::BlasInfo blas = nnilib::detect_blas();
  std::printf("BLAS: %s, kernel %s (%s)\n", blas.name.c_str(), blas.core.c_str(),
              blas.path.c_str());
  if (blas.reference || blas.generic_kernel)
    std::printf("%s\n", nnilib::blas_warning(blas).c_str());
  nnilib::DataOptions data_options;
  data_options.val_size = eval_images;
  data_options.train_size = train_images;
  const nnilib::FashionMnist data = nnilib::load_fashion_mnist(data_options);

  std::vector<Variant> variants;
  if (ladder) {
    Variant v{"plain port", {}, 1000};
    v.tuning.grads_to_none = false;
    v.tuning.reuse_batch = false;
    v.tuning.channels_last = false;  // the model always pools before ReLU (see model.cpp)
    variants.push_back(v);
    v.name = "+ grads to none";
    v.tuning.grads_to_none = true;
    variants.push_back(v);
    v.name = "+ reused batch tensors";
    v.tuning.reuse_batch = true;
    variants.push_back(v);
    v.name = "+ channels-last";
    v.tuning.channels_last = true;
    variants.push_back(v);
    Variant nodnn = v;
    nodnn.name = "  (oneDNN off)";
    nodnn.tuning.mkldnn = false;
    variants.push_back(nodnn);
    for (int64_t b : {250, 5000}) {
      Variant e = v;
      e.name = "  (eval batch " + std::to_string(b) + ")";
      e.eval_batch = b;
      variants.push_back(e);
    }
  } else {
    variants.push_back(Variant{"default", {}, nnilib::TrainOptions{}.eval_batch_size});
  }

  std::printf("%-9s %-24s %7s %12s %12s %14s %10s %10s\n", "arch", "variant", "threads",
              "train img/s", "eval img/s", "matmul GFLOP/s", "train GF/s", "efficiency");
  std::ofstream json_out;
  if (!json_path.empty()) json_out.open(json_path, std::ios::app);
  for (int t : threads) {
    const double peak = matmul_gflops(t);
    for (const Arch& arch : archs()) {
      // The ladder is about the loop's overheads, which weigh most on the smallest model.
      if (ladder && std::string(arch.name) != "smallest") continue;
      for (const Variant& v : variants) {
        const Measurement m = measure(data, arch, t, v, peak, repeats);
        std::printf("%-9s %-24s %7d %12.0f %12.0f %14.1f %10.1f %9.1f%%\n", arch.name,
                    v.name.c_str(), t, m.train_ips, m.eval_ips, peak, m.train_gflops,
                    100.0 * m.efficiency);
        std::fflush(stdout);
        if (json_out) {
          json_out << nlohmann::json{{"impl", "cpp"},
                                     {"variant", v.name},
                                     {"arch", arch.name},
                                     {"threads", t},
                                     {"train_images_per_second", m.train_ips},
                                     {"eval_images_per_second", m.eval_ips},
                                     {"matmul_gflops", peak},
                                     {"train_gflops", m.train_gflops},
                                     {"efficiency", m.efficiency}}
                          .dump()
                   << "\n";
        }
      }
    }
  }
  return 0;
}
