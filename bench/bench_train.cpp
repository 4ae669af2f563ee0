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
  for (int i = 0; i < 5; ++i) {
    const auto t = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  return 2.0 * n * n * n / best / 1e9;
}

struct Arch {
  const char* name;
  nlohmann::json params;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {1, 2};
  int64_t train_images = 6400;
  int64_t eval_images = 5000;
  int64_t eval_batch = 1000;
  std::string json_path;
  std::string variant = "default";
  CLI::App app{"bench_train: C++ trial throughput and FLOP efficiency"};
  app.add_option("--threads", threads, "thread counts to measure")->capture_default_str();
  app.add_option("--train-images", train_images, "images in the measured training epoch")->capture_default_str();
  app.add_option("--eval-images", eval_images, "images in the measured evaluation")->capture_default_str();
  app.add_option("--eval-batch-size", eval_batch, "evaluation batch size")->capture_default_str();
  app.add_option("--json", json_path, "append one JSON line per measurement to this file");
  CLI11_PARSE(app, argc, argv);

  const nnilib::BlasInfo blas = nnilib::detect_blas();
  std::printf("BLAS: %s (%s)\n", blas.name.c_str(), blas.path.c_str());
  nnilib::DataOptions data_options;
  data_options.val_size = eval_images;
  data_options.train_size = train_images;
  const nnilib::FashionMnist data = nnilib::load_fashion_mnist(data_options);

  const std::vector<Arch> archs = {
      {"smallest", {{"filter_size_c1", 32}, {"kernel_size_c1", 3}, {"filter_size_c2", 64},
                    {"kernel_size_c2", 3}, {"nb_units", 80}, {"epochs", 2}}},
      {"largest", {{"filter_size_c1", 128}, {"kernel_size_c1", 5}, {"filter_size_c2", 128},
                   {"kernel_size_c2", 5}, {"nb_units", 120}, {"epochs", 2}}},
  };
  std::printf("%-9s %7s %12s %12s %14s %10s %10s\n", "arch", "threads", "train img/s",
              "eval img/s", "matmul GFLOP/s", "train GF/s", "efficiency");
  std::ofstream json_out;
  if (!json_path.empty()) json_out.open(json_path, std::ios::app);
  for (const Arch& arch : archs) {
    const nnilib::TrialSpec spec = nnilib::trial_spec_from_parameters(arch.params);
    const int64_t macs = nnilib::estimate_cost(spec.model).macs;
    for (int t : threads) {
      const double peak = matmul_gflops(t);
      nnilib::TrainOptions options;
      options.device = "cpu";
      options.threads = t;
      options.evaluate_test = false;
      options.eval_batch_size = eval_batch;
      nnilib::TrainObserver quiet;
      const nnilib::TrainResult r = nnilib::train(spec, data, options, quiet);
      const nnilib::EpochStats& e = r.curve.back();
      const double train_gflops = e.images_per_second * static_cast<double>(macs) * 6.0 / 1e9;
      std::printf("%-9s %7d %12.0f %12.0f %14.1f %10.1f %9.1f%%\n", arch.name, t, e.images_per_second,
                  e.eval_images_per_second, peak, train_gflops, 100.0 * train_gflops / peak);
      std::fflush(stdout);
      if (json_out) {
        json_out << nlohmann::json{{"impl", "cpp"},
                                   {"variant", variant},
                                   {"arch", arch.name},
                                   {"threads", t},
                                   {"train_images_per_second", e.images_per_second},
                                   {"eval_images_per_second", e.eval_images_per_second},
                                   {"matmul_gflops", peak},
                                   {"train_gflops", train_gflops},
                                   {"efficiency", train_gflops / peak}}
                        .dump()
                 << "\n";
      }
    }
  }
  return 0;
}
