// fmnist-trial: trains one CNN on Fashion-MNIST and reports how it did, as an NNI
// trial (v3 HTTP, legacy file or legacy stdout channel, chosen as NNI's SDK does)
// or standalone (parameters from --params / --params-file, results printed).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/common/program.h"
#include "nnilib/data/dataset.h"
#include "nnilib/deploy/onnx_model.h"
#include "nnilib/model/params.h"
#include "nnilib/space/space.h"
#include "nnilib/train/blas.h"
#include "nnilib/train/trainer.h"
#include "nnilib/trial/progress.h"
#include "nnilib/trial/protocol.h"
#include "nnilib/trial/trial.h"
#include "nnilib/trial/trial_environment.h"

namespace {

// When the process started: --time-limit counts from here (data loading included).
const auto g_process_start = std::chrono::steady_clock::now();

void install_signal_handlers() {
  // No SA_RESTART: a blocking wait (a parameter, a retry) returns early.
  nnilib::install_stop_signals(nnilib::SignalRestart::kNo);
  // Over a file-size limit (ulimit -f), a write fails with EFBIG and is reported
  // like a full disk, instead of the default action killing the trial.
  signal(SIGXFSZ, SIG_IGN);
}

bool interrupted() { return nnilib::first_stop_signal() != 0; }

/// Prints one line per epoch, reports it to NNI, and stops at the next batch after
/// a signal.
class TrialObserver : public nnilib::TrainObserver {
 public:
  /// `progress_dir`: where progress.json goes every 2 s ("": nowhere).
  TrialObserver(nnilib::Trial& trial, int epochs, bool quiet, bool validated,
                std::string progress_dir)
      : trial_(trial),
        epochs_(epochs),
        quiet_(quiet),
        validated_(validated),
        progress_dir_(std::move(progress_dir)) {}
  void on_start(const nnilib::TrainStart& s) override {
    if (quiet_) return;
    std::printf("model  %s\n", s.architecture.c_str());
    std::printf("data   train %lld, validation %lld, test %lld images; device %s, %d threads\n",
                static_cast<long long>(s.train_size), static_cast<long long>(s.val_size),
                static_cast<long long>(s.test_size), s.device.c_str(), s.threads);
    std::printf("precision %s (%s)\n", s.precision.c_str(), s.precision_reason.c_str());
    std::fflush(stdout);
  }
  void on_epoch(const nnilib::EpochStats& e) override {
    if (!quiet_) {
      std::printf("%s\n", nnilib::format_epoch(e, epochs_).c_str());
      std::fflush(stdout);
    }
    // Numbers only, so NNI's web UI can chart every key. Without a validation split
    // (--val-size 0) the training accuracy is all there is to chart.
    if (validated_) {
      trial_.report_intermediate_result({{"default", e.val_accuracy},
                                         {"val_loss", e.val_loss},
                                         {"train_loss", e.train_loss},
                                         {"train_accuracy", e.train_accuracy}});
    } else {
      trial_.report_intermediate_result(
          {{"default", e.train_accuracy}, {"train_loss", e.train_loss}});
    }
  }
  bool stop_requested() override { return interrupted(); }

  // The runner's table shows where a trial is inside its epoch (trial/progress.h).
  void on_batch(const nnilib::BatchProgress& b) override {
    if (progress_dir_.empty() || b.epoch_seconds <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ < std::chrono::seconds(2) && b.batch < b.batches) return;
    last_progress_ = now;
    nnilib::TrialProgress p;
    p.epoch = b.epoch;
    p.epochs = b.epochs;
    p.batch = b.batch;
    p.batches = b.batches;
    p.images_per_second = static_cast<double>(b.images) / b.epoch_seconds;
    // Training time left at this run's pace in this epoch (evaluations not counted).
    const double per_batch =
        b.epoch_seconds / static_cast<double>(std::max<int64_t>(1, b.batches_this_run));
    p.eta_seconds = per_batch * static_cast<double>(b.steps_left);
    p.time = static_cast<double>(std::time(nullptr));
    try {
      nnilib::write_trial_progress(progress_dir_, p);
    } catch (const nnilib::IoError& e) {
      std::fprintf(stderr, "fmnist-trial: warning: %s; no more progress files\n", e.what());
      progress_dir_.clear();
    }
  }

 private:
  nnilib::Trial& trial_;
  int epochs_;
  bool quiet_;
  bool validated_;
  std::string progress_dir_;
  std::chrono::steady_clock::time_point last_progress_{};
};

// Parameters as given by --params or --params-file: a JSON object, or a one-line error.
nlohmann::json parse_params_text(const std::string& text, const std::string& where) {
  if (const std::string deep = nnilib::json_depth_problem(text); !deep.empty())
    throw nnilib::ParamError(where + ": " + deep);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string msg = e.what();
    throw nnilib::ParamError(where + ": not valid JSON (" + msg.substr(msg.find(']') + 2) + ")");
  } catch (const nlohmann::json::out_of_range&) {
    throw nnilib::ParamError(where +
                             ": holds a number beyond the range of a double (such as 1e309)");
  }
  if (!j.is_object()) {
    throw nnilib::ParamError(where +
                             ": expected a JSON object of parameters such as {\"epochs\": 5}, "
                             "got " +
                             std::string(j.type_name()));
  }
  return j;
}

nlohmann::json read_params_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw nnilib::ParamError(path + ": is a directory, not a parameters file");
  std::ifstream in(path);
  if (!in) throw nnilib::ParamError(path + ": cannot open the parameters file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_params_text(buf.str(), path);
}

std::string parameter_help() {
  std::string s =
      "Parameters (a JSON object; missing names take their defaults; nested choices\n"
      "{\"_name\": ...} are expanded, docs/search-space.md). Without model-space names\n"
      "the seed's CNN is built. convN_* names apply to block N = 1..5.\n";
  std::string group;
  for (const nnilib::ParamInfo& p : nnilib::parameter_table()) {
    if (p.group != group) {
      group = p.group;
      s += group + ":\n";
    }
    s += "  " + p.name + std::string(18 - std::min<size_t>(17, p.name.size()), ' ') + p.type +
         "  " + p.accepted() + "  default " + p.default_text() + "  " + p.meaning + "\n";
  }
  s += std::string("  ") + nnilib::kTrialBudgetKey +
       "      number  Hyperband/BOHB budget: epochs = ceil(TRIAL_BUDGET)\n";
  return s;
}

// "2G", "512M", "1.5GiB", "100000" -> bytes; throws UsageError naming the option.
int64_t parse_size(const std::string& text, const char* option) {
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
  }
  std::string unit = text.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (unit.size() == 2 && unit[1] == 'i') unit.pop_back();
  double scale = 0;
  if (unit.empty()) scale = 1;
  if (unit == "K" || unit == "k") scale = 1024.0;
  if (unit == "M" || unit == "m") scale = 1024.0 * 1024;
  if (unit == "G" || unit == "g") scale = 1024.0 * 1024 * 1024;
  if (!(value > 0) || scale == 0) {
    throw nnilib::UsageError(std::string(option) + " " + text +
                             ": expected a positive size such as 800M, 2G or 1.5GiB");
  }
  return static_cast<int64_t>(value * scale);
}

// 80% of physical memory: the default --max-memory.
int64_t default_memory_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<int64_t>(0.8 * static_cast<double>(pages) * static_cast<double>(page_size));
}

std::string mib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

// Prints what the architecture costs and refuses it above the limits, before any
// data is loaded: a search fails such a point in milliseconds, not by an OOM kill.
void check_limits(const nnilib::TrialSpec& spec, const nnilib::TrainOptions& train,
                  int64_t max_params, double max_macs, int64_t max_memory, bool quiet) {
  const nnilib::CostEstimate cost = nnilib::estimate_cost(spec.model);
  // The data set is held as float tensors: 70,000 images of 28x28.
  const int64_t data_bytes = int64_t{70000} * 28 * 28 * 4;
  const int64_t memory = nnilib::estimate_training_memory(cost, spec.hyper.batch_size,
                                                          static_cast<int>(train.eval_batch_size)) +
                         data_bytes;
  if (!quiet) {
    std::printf(
        "cost   %lld parameters, %.2f M multiply-accumulates per image, about %s peak "
        "memory (estimate)\n",
        static_cast<long long>(cost.params), static_cast<double>(cost.macs) / 1e6,
        mib(memory).c_str());
    std::fflush(stdout);
  }
  const std::string arch = " (" + nnilib::describe(spec.model) + ")";
  if (max_params > 0 && cost.params > max_params) {
    throw nnilib::LimitError("architecture has " + std::to_string(cost.params) +
                             " parameters, over --max-params " + std::to_string(max_params) + arch);
  }
  if (max_macs > 0 && static_cast<double>(cost.macs) > max_macs) {
    char limit[32];
    std::snprintf(limit, sizeof limit, "%.4g", max_macs);
    throw nnilib::LimitError("architecture needs " + std::to_string(cost.macs) +
                             " multiply-accumulates per image, over --max-macs " + limit + arch);
  }
  if (max_memory > 0 && memory > max_memory) {
    throw nnilib::LimitError("training would need about " + mib(memory) + " (batch_size " +
                             std::to_string(spec.hyper.batch_size) + "), over --max-memory " +
                             mib(max_memory) + arch);
  }
}

struct Cli {
  std::string params_text;
  std::string params_file;
  std::string output_dir;
  std::string output;
  std::string weights;
  std::string evaluate;
  std::string export_onnx;
  std::string tta = "none";
  bool no_save = false;
  bool progress = false;
  bool quiet = false;
  bool list_params = false;
  bool print_params = false;
  bool dry_run = false;
  std::string check_space;
  std::string sample_space;
  int nni_retries = 4;
  int nni_backoff_ms = 500;
  int nni_timeout_ms = 3000;
  double nni_parameter_wait_s = 600;
  int64_t max_params = 0;
  double max_macs = 0;
  std::string max_memory;
  std::string precision;
  std::string time_limit;
  nnilib::DataOptions data;
  nnilib::TrainOptions train;
};

// Validates a search space, prints its summary and size, and checks that what it
// samples is accepted by this trial (the names and ranges of params.h).
int check_space(const std::string& path, const nnilib::ModelInput& input) {
  const nnilib::SearchSpace space = nnilib::SearchSpace::load(path);
  std::printf("%s", space.summary().c_str());
  const nnilib::GridSize size = space.grid_size();
  std::printf("size: %s%s\n", size.to_string().c_str(),
              size.finite ? " points" : " (continuous dimensions)");
  nnilib::SpaceRng rng(0);
  constexpr int kSamples = 1000;
  std::vector<int64_t> macs, params;
  nlohmann::json costliest;
  int64_t costliest_macs = -1;
  for (int i = 0; i < kSamples; ++i) {
    const nlohmann::json sample = space.sample(rng);
    nnilib::TrialSpec spec;
    try {
      spec = nnilib::trial_spec_from_parameters(sample, input);
    } catch (const nnilib::ParamError& e) {
      throw nnilib::ParamError(path + ": sampled parameters " + sample.dump() +
                               " are refused by the trial: " + e.what());
    }
    const nnilib::CostEstimate cost = nnilib::estimate_cost(spec.model);
    if (cost.macs > costliest_macs) {
      costliest_macs = cost.macs;
      costliest = spec.parameters;
    }
    macs.push_back(cost.macs);
    params.push_back(cost.params);
  }
  std::sort(macs.begin(), macs.end());
  std::sort(params.begin(), params.end());
  const auto millions = [](int64_t v) { return static_cast<double>(v) / 1e6; };
  std::printf(
      "cost over %d samples: %.2f / %.2f / %.2f M multiply-accumulates per image, "
      "%.3f / %.3f / %.3f M parameters (min / median / max)\n",
      kSamples, millions(macs.front()), millions(macs[macs.size() / 2]), millions(macs.back()),
      millions(params.front()), millions(params[params.size() / 2]), millions(params.back()));
  std::printf("costliest sample: %s\n", costliest.dump().c_str());
  std::printf("ok: %d sampled parameter sets are accepted by fmnist-trial\n", kSamples);
  return 0;
}

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

// --precision, else $NNILIB_PRECISION (so nnictl's trialCommand need not change), else auto.
nnilib::Precision requested_precision(const Cli& cli) {
  if (!cli.precision.empty()) return nnilib::parse_precision(cli.precision, "--precision");
  if (const char* env = std::getenv(nnilib::kPrecisionEnv); env != nullptr && *env)
    return nnilib::parse_precision(env, nnilib::kPrecisionEnv);
  return nnilib::Precision::kAuto;
}

// --checkpoint, --resume-from and --schedule-epochs default to what a runner put in
// the environment (trainer.h), so a config.yml's trialCommand need not change.
void apply_runner_environment(nnilib::TrainOptions& train) {
  const auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
  };
  if (train.checkpoint_path.empty()) train.checkpoint_path = env(nnilib::kCheckpointEnv);
  if (train.resume_from.empty()) train.resume_from = env(nnilib::kResumeFromEnv);
  const std::string epochs = env(nnilib::kScheduleEpochsEnv);
  if (train.schedule_epochs == 0 && !epochs.empty()) {
    char* end = nullptr;
    const long v = std::strtol(epochs.c_str(), &end, 10);
    if (end == epochs.c_str() || *end != 0 || v < 0 || v > 100000)
      throw nnilib::UsageError(std::string(nnilib::kScheduleEpochsEnv) + "=" + epochs +
                               ": expected a number of epochs");
    train.schedule_epochs = static_cast<int>(v);
  }
}

// --evaluate: the saved weights of `spec` on the validation and test splits, no
// training; nothing is written but an explicit --output.
int evaluate_saved_weights(const Cli& cli, nnilib::Trial& trial, const nnilib::TrialSpec& spec,
                           nnilib::Precision precision) {
  if (!trial.standalone())
    throw nnilib::UsageError("--evaluate runs standalone only, not as NNI trial " +
                             trial.trial_id());
  nnilib::TrainOptions options = cli.train;
  options.precision = precision;
  TrialObserver observer(trial, 0, cli.quiet, false, "");
  const nnilib::TrainResult result =
      nnilib::evaluate_weights(spec, cli.data, options, cli.evaluate, observer);
  if (result.interrupted) {
    std::fprintf(stderr, "fmnist-trial: interrupted by %s during the evaluation\n",
                 nnilib::stop_signal_name());
    return static_cast<int>(nnilib::ExitCode::kInterrupted);
  }
  nlohmann::json summary = nnilib::summary_json(spec, result);
  summary["evaluated_weights"] = cli.evaluate;
  if (result.start.val_size > 0) summary["final_val_loss"] = result.final_val_loss;
  if (!cli.output.empty())
    nnilib::write_file_atomically(cli.output, summary.dump(2) + "\n", "the summary");
  const char* tta = options.flip_tta ? ", flip test-time augmentation" : "";
  if (result.start.val_size > 0)
    std::printf("evaluate  validation accuracy %.4f  loss %.4f  (%lld images%s)\n",
                result.final_val_accuracy, result.final_val_loss,
                static_cast<long long>(result.start.val_size), tta);
  if (result.test_accuracy >= 0)
    std::printf("evaluate  test accuracy %.4f  loss %.4f  (%lld images%s)\n", result.test_accuracy,
                result.test_loss, static_cast<long long>(result.start.test_size), tta);
  if (!cli.quiet) std::printf("%s\n", summary.dump(2).c_str());
  return 0;
}

// --time-limit: seconds, or a number with s, m or h ("2400", "40m", "1.5h").
double parse_time_limit(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  const std::string unit = end != nullptr ? std::string(end) : "";
  if (unit == "m") v *= 60;
  if (unit == "h") v *= 3600;
  if (end == text.c_str() || !(unit.empty() || unit == "s" || unit == "m" || unit == "h") ||
      !std::isfinite(v) || v <= 0 || v > 366.0 * 86400)
    throw nnilib::UsageError("--time-limit " + text +
                             ": expected a duration such as 2400, 40m or 1.5h");
  return v;
}

// The parameters the command line gives: a --sample point, then --params-file, then
// --params, each overriding the one before.
nlohmann::json command_line_parameters(const Cli& cli) {
  nlohmann::json params = nlohmann::json::object();
  if (!cli.sample_space.empty()) {
    // One random point of the space (seeded by --seed), like a Random tuner's trial.
    nnilib::SpaceRng rng(cli.train.seed);
    params = nnilib::SearchSpace::load(cli.sample_space).sample(rng);
  }
  if (!cli.params_file.empty())
    params = nnilib::merge_parameters(params, read_params_file(cli.params_file));
  if (!cli.params_text.empty())
    params = nnilib::merge_parameters(params, parse_params_text(cli.params_text, "--params"));
  return params;
}

nnilib::ChannelOptions channel_options(const Cli& cli) {
  nnilib::ChannelOptions channel;
  channel.retries = cli.nni_retries;
  channel.initial_backoff = std::chrono::milliseconds(cli.nni_backoff_ms);
  channel.request_timeout = std::chrono::milliseconds(cli.nni_timeout_ms);
  channel.parameter_wait =
      std::chrono::milliseconds(static_cast<int64_t>(cli.nni_parameter_wait_s * 1000));
  channel.cancelled = interrupted;
  return channel;
}

// Fails now, not after training, when an output file's directory cannot be created or
// written (read-only, full). Empty paths are skipped.
void prepare_output_directories(const std::vector<std::string>& files) {
  for (const std::string& file : files) {
    if (file.empty()) continue;
    const auto parent = std::filesystem::path(file).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::create_directories(parent, ec) && ec) {
      throw nnilib::IoError(parent.string() + ": cannot create the output directory (" +
                            ec.message() + ")");
    }
    nnilib::check_writable_dir(parent.empty() ? "." : parent.string());
  }
}

// The final result reported to NNI: the validation accuracy, or without a validation
// split the test accuracy, with the cost and the time.
nlohmann::json final_result(const nnilib::TrainResult& result, bool validated) {
  nlohmann::json r = {{"default", validated ? result.final_val_accuracy : result.test_accuracy}};
  if (validated) r["best_val_accuracy"] = result.best_val_accuracy;
  r["test_accuracy"] = result.test_accuracy;
  r["params"] = result.start.cost.params;
  r["macs"] = result.start.cost.macs;
  r["seconds"] = result.seconds;
  return r;
}

// --export-onnx: the weights saved in `weights` as an ONNX model.
void export_weights(const Cli& cli, const nnilib::TrialSpec& spec, const std::string& weights) {
  if (cli.export_onnx == weights)
    throw nnilib::UsageError("--export-onnx " + cli.export_onnx + " would overwrite the weights");
  prepare_output_directories({cli.export_onnx});
  const nnilib::OnnxExportResult r = nnilib::export_onnx(spec, cli.data, weights, cli.export_onnx);
  std::printf("onnx   %s: %s (%lld bytes, opset %d, batch dynamic)\n", r.path.c_str(),
              r.architecture.c_str(), static_cast<long long>(r.bytes), r.opset);
  std::fflush(stdout);
}

// --export-onnx with --weights or --evaluate: the saved weights named, without training.
bool exports_saved_weights(const Cli& cli) {
  return !cli.export_onnx.empty() && (!cli.weights.empty() || !cli.evaluate.empty());
}

int run(const Cli& cli) {
  install_signal_handlers();
  const nnilib::Precision precision = requested_precision(cli);  // bad values fail first
  const nlohmann::json cli_params = command_line_parameters(cli);
  nnilib::Trial trial = nnilib::Trial::from_environment(cli_params, channel_options(cli));

  nlohmann::json params;
  try {
    const nnilib::ParameterRecord& record = trial.get_next_parameter();
    // Under NNI, --params / --params-file give fixed values the tuner does not sample.
    params =
        trial.standalone() ? cli_params : nnilib::merge_parameters(cli_params, record.parameters);
  } catch (const nnilib::ChannelClosed& e) {
    std::fprintf(stderr, "fmnist-trial: %s; the experiment is stopping, nothing to do\n", e.what());
    return 0;  // no result is owed
  }
  if (!trial.standalone()) {
    std::printf("nni    trial %s of experiment %s (sequence %d), %s channel, parameters %s\n",
                trial.trial_id().c_str(), trial.experiment_id().c_str(), trial.sequence_id(),
                trial.channel_name().c_str(), params.dump().c_str());
  }
  const nnilib::TrialSpec spec =
      nnilib::trial_spec_from_parameters(params, nnilib::dataset_for_model(cli.data).model_input());
  if (cli.print_params) {
    std::printf("params %s\n", spec.parameters.dump().c_str());
    std::fflush(stdout);
  }

  const nnilib::BlasInfo blas = nnilib::detect_blas();
  if (const std::string warning = nnilib::blas_warning(blas); !warning.empty()) {
    std::fprintf(stderr, "fmnist-trial: %s\n", warning.c_str());
  }

  if (exports_saved_weights(cli)) {
    if (!trial.standalone())
      throw nnilib::UsageError("--export-onnx of saved weights runs standalone only: trial " +
                               trial.trial_id() + " runs under NNI");
    export_weights(cli, spec, cli.evaluate.empty() ? cli.weights : cli.evaluate);
    if (cli.evaluate.empty()) return 0;
  }
  if (!cli.evaluate.empty()) return evaluate_saved_weights(cli, trial, spec, precision);

  const std::string out_dir = cli.output_dir.empty() ? trial.output_dir() : cli.output_dir;
  // An explicit --output / --weights wins; otherwise the file goes to out_dir unless --no-save.
  const auto artifact = [&](const std::string& explicit_path, const char* name) {
    return !explicit_path.empty() || cli.no_save ? explicit_path : join_path(out_dir, name);
  };
  const std::string summary_path = artifact(cli.output, "summary.json");
  nnilib::TrainOptions options = cli.train;
  options.precision = precision;
  apply_runner_environment(options);
  if (!cli.time_limit.empty())
    options.deadline =
        g_process_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(parse_time_limit(cli.time_limit)));
  options.weights_path = artifact(cli.weights, "model.pt");
  if (!cli.export_onnx.empty() && options.weights_path.empty())
    throw nnilib::UsageError("--export-onnx exports the trained weights: drop --no-save");
  if (!cli.export_onnx.empty() && cli.export_onnx == options.weights_path)
    throw nnilib::UsageError("--export-onnx " + cli.export_onnx + " would overwrite the weights");
  prepare_output_directories({summary_path, options.weights_path, options.checkpoint_path,
                              options.predictions_path, cli.export_onnx});

  check_limits(
      spec, options, cli.max_params, cli.max_macs,
      cli.max_memory.empty() ? default_memory_limit() : parse_size(cli.max_memory, "--max-memory"),
      cli.quiet);
  if (cli.dry_run) return 0;  // parameters valid, cost printed, within the limits
  // Under a runner (not standalone), or with --progress, progress.json goes next to the
  // results.
  TrialObserver observer(trial, spec.hyper.epochs, cli.quiet, cli.data.val_size > 0,
                         (trial.standalone() && !cli.progress) || cli.no_save ? "" : out_dir);
  const nnilib::TrainResult result = nnilib::train(spec, cli.data, options, observer);
  const nlohmann::json summary = nnilib::summary_json(spec, result);
  if (!summary_path.empty())
    nnilib::write_file_atomically(summary_path, summary.dump(2) + "\n", "the summary");
  if (result.interrupted) {
    std::fprintf(stderr,
                 "fmnist-trial: interrupted by %s after %zu epoch(s); %d intermediate result(s) "
                 "reported, no final result\n",
                 nnilib::stop_signal_name(), result.curve.size(), trial.intermediate_count());
    return static_cast<int>(nnilib::ExitCode::kInterrupted);
  }
  trial.report_final_result(final_result(result, cli.data.val_size > 0));
  std::printf("%s\n", summary.dump(2).c_str());
  // After the result is reported: a failed export loses no training.
  if (!cli.export_onnx.empty()) export_weights(cli, spec, options.weights_path);
  return 0;
}

// The options of the parameters and the data set.
void add_parameter_and_data_options(CLI::App& app, Cli& cli) {
  app.add_option("--params", cli.params_text,
                 "parameters as a JSON object, e.g. '{\"nb_units\": 120}'");
  app.add_option("--params-file", cli.params_file,
                 "read parameters from a JSON file (--params wins)");
  app.add_flag("--list-params", cli.list_params, "print the accepted parameters and exit");
  app.add_flag("--print-params", cli.print_params,
               "print the parameters as applied (defaults filled in) before training");
  app.add_flag("--dry-run", cli.dry_run,
               "check the parameters and the limits, print the cost (and --print-params), and "
               "exit without loading data or training");
  app.add_option("--check-space", cli.check_space,
                 "validate an NNI search_space.json, print its summary and size, and exit");
  app.add_option("--sample", cli.sample_space,
                 "train one random point of this search_space.json (seeded by --seed); "
                 "--params / --params-file override its values");
  app.add_option("--dataset", cli.data.dataset,
                 "the data set: " + nnilib::dataset_names() +
                     " (any IDX set: size and classes from its files); the model takes its "
                     "image size, channels and classes")
      ->capture_default_str();
  app.add_option("--data-dir", cli.data.dir,
                 "the data set's files (Fashion-MNIST: default $FMNIST_DATA_DIR, else "
                 "/usr/share/datasets/fashion-mnist; the others: required)");
  app.add_option("--val-size", cli.data.val_size,
                 "training images held out for validation (0 = none: train on all of them "
                 "and report the test accuracy)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--train-size", cli.data.train_size, "training images to use (0 = all the rest)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--test-size", cli.data.test_size, "test images to evaluate (0 = all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--split-seed", cli.data.split_seed, "seed of the train/validation split")
      ->capture_default_str();
}

// The options of training and its outputs.
void add_training_options(CLI::App& app, Cli& cli) {
  app.add_option("--seed", cli.train.seed, "seed of initialisation and shuffling")
      ->capture_default_str();
  app.add_option("--threads", cli.train.threads,
                 "intra-op threads (0 = $OMP_NUM_THREADS, else all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--device", cli.train.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--precision", cli.precision,
                 "fp32, bf16 (mixed precision: bfloat16 convolutions and matmuls, float32 "
                 "weights and loss) or auto: bf16 where this machine runs it faster "
                 "(default: $NNILIB_PRECISION, else auto)");
  app.add_option("--eval-batch-size", cli.train.eval_batch_size, "batch size for evaluation")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option(
      "--output-dir", cli.output_dir,
      "where summary.json and model.pt go (default: $NNI_OUTPUT_DIR, else the current directory)");
  app.add_option("--output", cli.output, "write the JSON summary to this file instead");
  app.add_option("--weights", cli.weights,
                 "save the final weights (LibTorch archive) to this file instead");
  app.add_option("--predictions", cli.train.predictions_path,
                 "write the class probabilities of every validation and test image to this "
                 "JSON file at the end (what fmnist-nas averages over an ensemble)");
  app.add_option("--evaluate", cli.evaluate,
                 "evaluate these saved weights (a model.pt of the same parameters) on the "
                 "validation and test splits instead of training; writes nothing but --output");
  app.add_option("--export-onnx", cli.export_onnx,
                 "write the model as ONNX to this file (standard operators, the batch dynamic, "
                 "the input normalization inside the graph; docs/deploy.md): the saved weights "
                 "of --weights or --evaluate, without training; otherwise the weights this run "
                 "trains");
  app.add_option("--tta", cli.tta,
                 "test-time augmentation of every evaluation: none, or flip (average the "
                 "predictions for each image and its mirror image)")
      ->check(CLI::IsMember({"none", "flip"}))
      ->capture_default_str();
  app.add_option("--ema-epochs", cli.train.ema_epochs,
                 "weight averaging: the time constant, in epochs, of an exponential moving "
                 "average of the weights taken after every step (e.g. 2.5; 0 = none); "
                 "evaluations and the saved model use the average, and the final validation "
                 "and the test are also reported without it")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--checkpoint", cli.train.checkpoint_path,
                 "write a resumable checkpoint (weights, optimizer, schedule position, random "
                 "state, curve) to this file at the end of every epoch");
  app.add_option("--resume-from", cli.train.resume_from,
                 "continue the run saved in this checkpoint up to the epochs asked for; one "
                 "of another run or a corrupt one is exit 3");
  app.add_option("--schedule-epochs", cli.train.schedule_epochs,
                 "epochs the learning-rate schedule spans (0 = the epochs trained); keep it "
                 "the same across --resume-from pieces to train the same run")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--time-limit", cli.time_limit,
                 "finish within this long from the start (e.g. 40m; data loading, the test "
                 "and saving included): train the epochs asked for, or as many as fit at the "
                 "measured speed, the schedule spanning what is trained (fmnist-nas's final "
                 "training)");
  app.add_flag("--progress", cli.progress,
               "also when run by hand, keep progress.json (epoch, batch, images/s, time left) "
               "in the output directory, rewritten every 2 s (fmnist-nas's final training)");
  app.add_flag("--no-save", cli.no_save,
               "write no artifacts (except an explicit --output / --weights)");
  app.add_flag("--quiet", cli.quiet, "no per-epoch lines");
}

// The architecture's limits and the NNI channel's.
void add_limit_options(CLI::App& app, Cli& cli) {
  app.add_option("--max-params", cli.max_params,
                 "refuse an architecture with more trainable parameters (exit 7; 0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-macs", cli.max_macs,
                 "refuse an architecture with more multiply-accumulates per image, e.g. 50e6 "
                 "(exit 7; 0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-memory", cli.max_memory,
                 "refuse a training run estimated to need more memory, e.g. 4G (exit 7; "
                 "default: 80% of physical memory)");
  app.add_option("--nni-retries", cli.nni_retries, "retries of a failed request to the NNI manager")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--nni-backoff-ms", cli.nni_backoff_ms, "first retry delay, doubled each retry")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--nni-timeout-ms", cli.nni_timeout_ms,
                 "timeout of one request to the NNI manager")
      ->check(CLI::Range(1100, 600000))
      ->capture_default_str();
  app.add_option("--nni-parameter-wait", cli.nni_parameter_wait_s,
                 "seconds to wait for NNI's parameters before giving up")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli;
  CLI::App app{
      "fmnist-trial: train one CNN on Fashion-MNIST (or --dataset), as an NNI trial or "
      "standalone.\n"
      "Under NNI (nnictl or fmnist-nas) the parameters come from NNI and every epoch is\n"
      "reported; run by hand, they come from --params / --params-file."};
  app.footer(parameter_help());
  // A flag given twice takes its last value (a trialCommand can override a wrapper's).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_parameter_and_data_options(app, cli);
  add_training_options(app, cli);
  add_limit_options(app, cli);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(nnilib::ExitCode::kUsage);
  }
  // More threads than cores only slows training down (OpenMP threads waiting for cores):
  // capped, with a word, so that one command line serves machines of different sizes.
  if (const int cores = static_cast<int>(std::thread::hardware_concurrency());
      cores > 0 && cli.train.threads > cores) {
    std::fprintf(stderr,
                 "fmnist-trial: --threads %d is more than this machine's %d logical cores; "
                 "using %d\n",
                 cli.train.threads, cores, cores);
    cli.train.threads = cores;
  }
  cli.train.flip_tta = cli.tta == "flip";
  if (cli.list_params) {
    std::printf("%s", parameter_help().c_str());
    return 0;
  }
  try {
    if (!cli.check_space.empty())
      return check_space(cli.check_space, nnilib::dataset_for_model(cli.data).model_input());
    nnilib::ensure_fast_openblas(argv, "fmnist-trial");
    return run(cli);
  } catch (const nnilib::Error& e) {
    // A signal during start-up (the data, the probe) ends it there; an error the signal
    // caused (a read it interrupted) is the signal's too.
    if (e.code() == nnilib::ExitCode::kInterrupted || interrupted()) {
      std::fflush(stdout);
      const char* sig = nnilib::stop_signal_name();
      if (e.code() == nnilib::ExitCode::kInterrupted)
        std::fprintf(stderr, "fmnist-trial: %s (%s); no result\n", e.what(), sig);
      else
        std::fprintf(stderr, "fmnist-trial: interrupted (%s): %s; no result\n", sig, e.what());
      return static_cast<int>(nnilib::ExitCode::kInterrupted);
    }
    return nnilib::exit_on_exception("fmnist-trial", e);
  } catch (const std::exception& e) {
    return nnilib::exit_on_exception("fmnist-trial", e);
  }
}
