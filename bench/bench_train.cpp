// Training and evaluation throughput of the C++ trial in each precision, against the
// machine's ceilings measured in the same process.
//
//   bench_train [--threads 1 2] [--precision fp32 bf16] [--arch NAME=FILE ...]
//               [--train-images 3200] [--eval-images 5000] [--json FILE] [--ladder]
//               [--profile]
//
// For each architecture it runs nnilib::train() itself (the code path of fmnist-trial):
// one warm-up epoch, then `repeats` measured epochs, of which the fastest counts.
// Training FLOPs per image are counted as forward multiply-accumulates x 2 (multiply +
// add) x 3 (forward, and backward's two products: gradients of inputs and of weights).
// Ceilings: a 2048x2048 matmul and a 3x3, 64->64 channels-last convolution on a
// 64x64x28x28 batch (forward), in float32 and bfloat16.
//
// --profile runs one more epoch of each architecture under LibTorch's profiler and
// prints the operators that take the most time (self time: children excluded).
#include <torch/csrc/autograd/profiler_legacy.h>
#include <CLI/CLI.hpp>

#include <ATen/autocast_mode.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>

#include "nnilib/data/data.h"
#include "nnilib/train/blas.h"
#include "nnilib/train/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;

double best_seconds(const std::function<void()>& f, int repeats) {
  f();  // warm-up: oneDNN creates its kernels
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t).count());
  }
  return best;
}

/// The machine's rates on this thread count, GFLOP/s.
struct Ceilings {
  double matmul_fp32 = 0, matmul_bf16 = 0, conv_fp32 = 0, conv_bf16 = 0;
};

Ceilings measure_ceilings(int threads) {
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  Ceilings c;
  const int64_t n = 2048;
  for (const auto dtype : {torch::kFloat, torch::kBFloat16}) {
    const torch::Tensor a = torch::randn({n, n}).to(dtype);
    const torch::Tensor b = torch::randn({n, n}).to(dtype);
    torch::Tensor out = torch::mm(a, b);
    const double s = best_seconds([&] { torch::mm_out(out, a, b); }, 5);
    (dtype == torch::kFloat ? c.matmul_fp32 : c.matmul_bf16) = 2.0 * n * n * n / s / 1e9;
    const int64_t batch = 64, ch = 64, side = 28;
    const torch::Tensor x = torch::randn({batch, ch, side, side})
                                .to(dtype)
                                .contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor w =
        torch::randn({ch, ch, 3, 3}).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
    const double cs = best_seconds([&] { torch::conv2d(x, w, {}, 1, 1); }, 5);
    const double conv_flops = 2.0 * batch * side * side * ch * ch * 9;
    (dtype == torch::kFloat ? c.conv_fp32 : c.conv_bf16) = conv_flops / cs / 1e9;
  }
  return c;
}

struct Arch {
  std::string name;
  nlohmann::json params;
};

// NAME=FILE (a JSON parameters file) or NAME={...} (inline JSON).
Arch parse_arch(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw CLI::ValidationError("--arch " + text + ": expected NAME=FILE");
  const std::string value = text.substr(eq + 1);
  nlohmann::json params;
  if (!value.empty() && value[0] == '{') {
    params = nlohmann::json::parse(value);
  } else {
    std::ifstream in(value);
    if (!in) throw CLI::ValidationError("--arch " + text + ": cannot open " + value);
    params = nlohmann::json::parse(in);
  }
  return {text.substr(0, eq), params};
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
  std::string precision;  // what ran
  int64_t macs = 0;
};

nnilib::TrialSpec bench_spec(const Arch& arch, int epochs) {
  nlohmann::json params = arch.params;
  params["epochs"] = epochs;
  return nnilib::trial_spec_from_parameters(params);
}

nnilib::TrainOptions bench_options(int threads, nnilib::Precision precision, const Variant& v) {
  nnilib::TrainOptions options;
  options.device = "cpu";
  options.threads = threads;
  options.precision = precision;
  options.evaluate_test = false;
  options.eval_batch_size = v.eval_batch;
  options.tuning = v.tuning;
  return options;
}

// Runs nnilib::train(): one warm-up epoch, then `repeats` measured epochs, of which the
// fastest counts (this machine is a VM whose speed drifts; the best is the most
// repeatable figure).
Measurement measure(const nnilib::Dataset& data, const Arch& arch, int threads,
                    nnilib::Precision precision, const Variant& v, int repeats) {
  const nnilib::TrialSpec spec = bench_spec(arch, 1 + repeats);
  nnilib::TrainObserver quiet;
  const nnilib::TrainResult r =
      nnilib::train(spec, data, bench_options(threads, precision, v), quiet);
  Measurement m;
  for (size_t i = 1; i < r.curve.size(); ++i) {
    m.train_ips = std::max(m.train_ips, r.curve[i].images_per_second);
    m.eval_ips = std::max(m.eval_ips, r.curve[i].eval_images_per_second);
  }
  m.macs = r.start.cost.macs;
  m.train_gflops = m.train_ips * static_cast<double>(m.macs) * 6.0 / 1e9;
  m.precision = r.start.precision;
  return m;
}

// One training epoch under the profiler (after a warm-up epoch, outside it): the
// operators by self time, the top `rows` printed.
void profile(const nnilib::Dataset& data, const Arch& arch, int threads,
             nnilib::Precision precision, int rows) {
  namespace prof = torch::autograd::profiler;
  struct Warmup : nnilib::TrainObserver {
    bool profiling = false;
    void on_epoch(const nnilib::EpochStats& e) override {
      if (e.epoch == 1 && !profiling) {
        prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(
            torch::profiler::impl::ProfilerState::CPU, /*report_input_shapes=*/false,
            /*profile_memory=*/false));
        profiling = true;
        start = Clock::now();
      }
    }
    Clock::time_point start;
  } observer;
  const nnilib::TrialSpec spec = bench_spec(arch, 2);
  nnilib::TrainOptions options = bench_options(threads, precision, Variant{"default", {}, 1000});
  const nnilib::TrainResult r = nnilib::train(spec, data, options, observer);
  const prof::thread_event_lists events = prof::disableProfilerLegacy();
  const double wall_us =
      std::chrono::duration<double, std::micro>(Clock::now() - observer.start).count();
  std::map<std::string, std::pair<double, int64_t>> self;  // name -> (self us, calls)
  for (const auto& list : events) {
    std::vector<std::pair<const prof::LegacyEvent*, double>> stack;  // event, child time
    for (const prof::LegacyEvent& e : list) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.emplace_back(&e, 0.0);
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const auto [push, children] = stack.back();
        stack.pop_back();
        const double total = push->cpuElapsedUs(e);
        auto& entry = self[push->name()];
        entry.first += total - children;
        entry.second += 1;
        if (!stack.empty()) stack.back().second += total;
      }
    }
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> sorted(self.begin(), self.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  double profiled = 0;
  for (const auto& s : sorted) profiled += s.second.first;
  std::printf(
      "\nprofile: %s, %s, %d thread(s), one epoch of %lld images + validation: %.0f ms "
      "wall, %.0f ms in operators\n",
      arch.name.c_str(), r.start.precision.c_str(), threads,
      static_cast<long long>(data.train.size()), wall_us / 1000, profiled / 1000);
  std::printf("  %-44s %9s %7s %8s\n", "operator (self time)", "ms", "%", "calls");
  for (int i = 0; i < rows && i < static_cast<int>(sorted.size()); ++i) {
    const auto& [name, figures] = sorted[static_cast<size_t>(i)];
    std::printf("  %-44s %9.1f %6.1f%% %8lld\n", name.substr(0, 44).c_str(), figures.first / 1000,
                100 * figures.first / profiled, static_cast<long long>(figures.second));
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  nnilib::ensure_fast_openblas(argv, "bench_train");
  std::vector<int> threads = {1, 2};
  std::vector<std::string> precision_names = {"fp32", "bf16"};
  std::vector<std::string> arch_args;
  int64_t train_images = 3200;
  int64_t eval_images = 5000;
  bool ladder = false;
  bool do_profile = false;
  int profile_rows = 15;
  int repeats = 3;
  std::string json_path;
  CLI::App app{"bench_train: C++ trial throughput per precision, against the machine's ceilings"};
  app.add_option("--threads", threads, "thread counts to measure")->capture_default_str();
  app.add_option("--precision", precision_names, "precisions to measure: fp32, bf16, auto")
      ->capture_default_str();
  app.add_option("--arch", arch_args,
                 "NAME=FILE (JSON parameters) to measure instead of the seed's smallest and "
                 "largest CNN; repeatable");
  app.add_option("--train-images", train_images, "images in each measured training epoch")
      ->capture_default_str();
  app.add_option("--eval-images", eval_images, "images in the measured evaluation")
      ->capture_default_str();
  app.add_flag("--ladder", ladder,
               "measure the loop optimisations one by one (what each change buys)");
  app.add_flag("--profile", do_profile, "profile one epoch of each architecture and precision");
  app.add_option("--profile-rows", profile_rows, "operators listed per profile")
      ->capture_default_str();
  app.add_option("--repeats", repeats, "measured epochs per figure (the best counts)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--json", json_path, "append one JSON line per measurement to this file");
  CLI11_PARSE(app, argc, argv);

  std::vector<Arch> archs;
  try {
    for (const std::string& a : arch_args) archs.push_back(parse_arch(a));
    if (archs.empty()) {  // the seed's smallest and largest CNN (bench/archs/)
      for (const char* name : {"smallest", "largest"})
        archs.push_back(
            parse_arch(std::string(name) + "=" + NNILIB_BENCH_ARCHS + "/" + name + ".json"));
    }
    std::vector<nnilib::Precision> precisions;
    for (const std::string& p : precision_names)
      precisions.push_back(nnilib::parse_precision(p, "--precision"));

    const nnilib::BlasInfo blas = nnilib::detect_blas();
    const nnilib::CpuFeatures cpu = nnilib::detect_cpu_features();
    std::printf("CPU: %s (%s); BLAS: %s, kernel %s\n", cpu.model.c_str(),
                nnilib::describe(cpu).c_str(), blas.name.c_str(), blas.core.c_str());
    if (blas.reference || blas.generic_kernel)
      std::printf("%s\n", nnilib::blas_warning(blas).c_str());
    nnilib::DataOptions data_options;
    data_options.val_size = eval_images;
    data_options.train_size = train_images;
    const nnilib::Dataset data = nnilib::load_dataset(data_options);

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
    } else {
      variants.push_back(Variant{"default", {}, nnilib::TrainOptions{}.eval_batch_size});
    }

    std::ofstream json_out;
    if (!json_path.empty()) json_out.open(json_path, std::ios::app);
    for (int t : threads) {
      const Ceilings c = measure_ceilings(t);
      std::printf(
          "\n%d thread(s): matmul %.0f GFLOP/s fp32, %.0f bf16 (%.2fx); 3x3 conv %.0f fp32, "
          "%.0f bf16 (%.2fx)\n",
          t, c.matmul_fp32, c.matmul_bf16, c.matmul_bf16 / c.matmul_fp32, c.conv_fp32, c.conv_bf16,
          c.conv_bf16 / c.conv_fp32);
      std::printf("%-12s %-18s %-5s %8s %12s %12s %10s %13s\n", "arch", "variant", "prec", "M MACs",
                  "train img/s", "eval img/s", "train GF/s", "% conv ceil.");
      if (json_out) {
        json_out << nlohmann::json{{"impl", "ceilings"},           {"threads", t},
                                   {"matmul_fp32", c.matmul_fp32}, {"matmul_bf16", c.matmul_bf16},
                                   {"conv_fp32", c.conv_fp32},     {"conv_bf16", c.conv_bf16}}
                        .dump()
                 << "\n";
      }
      for (const Arch& arch : archs) {
        // The ladder is about the loop's overheads, which weigh most on the smallest model.
        if (ladder && arch.name != "smallest") continue;
        for (const Variant& v : variants) {
          for (nnilib::Precision p : precisions) {
            const Measurement m = measure(data, arch, t, p, v, repeats);
            const double ceiling = m.precision == "bf16" ? c.conv_bf16 : c.conv_fp32;
            const std::string prec =
                p == nnilib::Precision::kAuto ? "auto:" + m.precision : m.precision;
            std::printf("%-12s %-18s %-5s %8.1f %12.0f %12.0f %10.1f %12.1f%%\n", arch.name.c_str(),
                        v.name.c_str(), prec.c_str(), static_cast<double>(m.macs) / 1e6,
                        m.train_ips, m.eval_ips, m.train_gflops, 100.0 * m.train_gflops / ceiling);
            std::fflush(stdout);
            if (json_out) {
              json_out << nlohmann::json{{"impl", "cpp"},
                                         {"variant", v.name},
                                         {"arch", arch.name},
                                         {"threads", t},
                                         {"precision", nnilib::to_string(p)},
                                         {"precision_ran", m.precision},
                                         {"macs", m.macs},
                                         {"train_images_per_second", m.train_ips},
                                         {"eval_images_per_second", m.eval_ips},
                                         {"train_gflops", m.train_gflops}}
                              .dump()
                       << "\n";
            }
          }
        }
      }
      if (do_profile) {
        for (const Arch& arch : archs)
          for (nnilib::Precision p : precisions) profile(data, arch, t, p, profile_rows);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
