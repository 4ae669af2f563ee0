// fmnist-trial: trains one CNN on Fashion-MNIST and reports how it did.
// Standalone: parameters from --params / --params-file; results printed.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "nnilib/blas.h"
#include "nnilib/error.h"
#include "nnilib/params.h"
#include "nnilib/trainer.h"

namespace {

std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  if (g_signal.load() == 0) g_signal.store(sig);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

/// Prints one line per epoch and stops at the next batch after a signal.
class ConsoleObserver : public nnilib::TrainObserver {
 public:
  ConsoleObserver(int epochs, bool quiet) : epochs_(epochs), quiet_(quiet) {}
  void on_start(const nnilib::TrainStart& s) override {
    if (quiet_) return;
    std::printf("model  %s\n", s.architecture.c_str());
    std::printf("cost   %lld parameters, %.2f M multiply-accumulates per image\n",
                static_cast<long long>(s.cost.params), static_cast<double>(s.cost.macs) / 1e6);
    std::printf("data   train %lld, validation %lld, test %lld images; device %s, %d threads\n",
                static_cast<long long>(s.train_size), static_cast<long long>(s.val_size),
                static_cast<long long>(s.test_size), s.device.c_str(), s.threads);
    std::fflush(stdout);
  }
  void on_epoch(const nnilib::EpochStats& e) override {
    if (quiet_) return;
    std::printf("%s\n", nnilib::format_epoch(e, epochs_).c_str());
    std::fflush(stdout);
  }
  bool stop_requested() override { return g_signal.load() != 0; }

 private:
  int epochs_;
  bool quiet_;
};

nlohmann::json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string msg = e.what();
    throw nnilib::ParamError(where + ": not valid JSON (" + msg.substr(msg.find(']') + 2) + ")");
  }
}

nlohmann::json read_params_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw nnilib::ParamError(path + ": cannot open the parameters file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_json_text(buf.str(), path);
}

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) throw nnilib::IoError(path + ": cannot write");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw nnilib::IoError(path + ": cannot write");
}

std::string parameter_help() {
  std::string s = "Parameters (JSON object, missing names take their defaults):\n";
  for (const nnilib::ParamInfo& p : nnilib::parameter_table()) {
    s += "  " + p.name + std::string(16 - std::min<size_t>(15, p.name.size()), ' ') + p.type +
         "  " + p.accepted() + "  default " + p.default_value.dump() + "  " + p.meaning + "\n";
  }
  s += std::string("  ") + nnilib::kTrialBudgetKey +
       "    number  Hyperband/BOHB budget: epochs = ceil(TRIAL_BUDGET)\n";
  return s;
}

struct Cli {
  std::string params_text;
  std::string params_file;
  std::string output;
  std::string weights;
  bool quiet = false;
  bool list_params = false;
  nnilib::DataOptions data;
  nnilib::TrainOptions train;
};

int run(const Cli& cli) {
  nlohmann::json params = nlohmann::json::object();
  if (!cli.params_file.empty()) params = read_params_file(cli.params_file);
  if (!cli.params_text.empty()) {
    params = nnilib::merge_parameters(params, parse_json_text(cli.params_text, "--params"));
  }
  const nnilib::TrialSpec spec = nnilib::trial_spec_from_parameters(params);

  const nnilib::BlasInfo blas = nnilib::detect_blas();
  if (blas.reference) std::fprintf(stderr, "fmnist-trial: %s\n", nnilib::blas_warning(blas).c_str());

  nnilib::TrainOptions options = cli.train;
  options.weights_path = cli.weights;
  ConsoleObserver observer(spec.hyper.epochs, cli.quiet);
  install_signal_handlers();
  const nnilib::TrainResult result = nnilib::train(spec, cli.data, options, observer);
  const nlohmann::json summary = nnilib::summary_json(spec, result);
  if (!cli.output.empty()) write_text_file(cli.output, summary.dump(2) + "\n");
  if (result.interrupted) {
    std::fprintf(stderr, "fmnist-trial: interrupted by signal %d after %zu epoch(s); no final result\n",
                 g_signal.load(), result.curve.size());
    return static_cast<int>(nnilib::ExitCode::kInterrupted);
  }
  std::printf("%s\n", summary.dump(2).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli;
  CLI::App app{"fmnist-trial: train one CNN on Fashion-MNIST (an NNI trial, or standalone)"};
  app.footer(parameter_help());
  app.add_option("--params", cli.params_text, "parameters as a JSON object, e.g. '{\"nb_units\": 120}'");
  app.add_option("--params-file", cli.params_file, "read parameters from a JSON file (--params wins)");
  app.add_flag("--list-params", cli.list_params, "print the accepted parameters and exit");
  app.add_option("--data-dir", cli.data.dir,
                 "Fashion-MNIST IDX files (default: $FMNIST_DATA_DIR, else /usr/share/datasets/fashion-mnist)");
  app.add_option("--val-size", cli.data.val_size, "training images held out for validation")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--train-size", cli.data.train_size, "training images to use (0 = all the rest)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--test-size", cli.data.test_size, "test images to evaluate (0 = all)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--split-seed", cli.data.split_seed, "seed of the train/validation split")->capture_default_str();
  app.add_option("--seed", cli.train.seed, "seed of initialisation and shuffling")->capture_default_str();
  app.add_option("--threads", cli.train.threads, "intra-op threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--device", cli.train.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--eval-batch-size", cli.train.eval_batch_size, "batch size for evaluation")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--output", cli.output, "also write the JSON summary to this file");
  app.add_option("--weights", cli.weights, "save the final weights (LibTorch archive) to this file");
  app.add_flag("--quiet", cli.quiet, "no per-epoch lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(nnilib::ExitCode::kUsage);
  }
  if (cli.list_params) {
    std::printf("%s", parameter_help().c_str());
    return 0;
  }
  try {
    return run(cli);
  } catch (const nnilib::Error& e) {
    std::fprintf(stderr, "fmnist-trial: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    std::fprintf(stderr, "fmnist-trial: internal error: %s\n", what.c_str());
    return static_cast<int>(nnilib::ExitCode::kInternal);
  }
}
