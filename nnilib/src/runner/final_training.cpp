#include "nnilib/runner/final_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <unistd.h>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/common/trial_budget.h"
#include "nnilib/runner/experiment_config.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/runner/trial_process.h"

namespace nnilib {
namespace {

namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A trial's summary.json (at most 16 MiB: a real one is a few KiB), or null.
nlohmann::json trial_summary(const std::string& dir, const std::string& trial_id) {
  const auto text =
      read_small_file(ExperimentPaths{dir}.trial_dir(trial_id) + "/summary.json", 16 << 20);
  if (!text) return nullptr;
  const nlohmann::json j = parse_bounded_json(*text);
  return j.is_object() ? j : nlohmann::json();
}

// Whether the extra arguments give `flag` (as "--flag" or "--flag=...").
bool has_flag(const std::vector<std::string>& args, const std::string& flag) {
  for (const std::string& a : args)
    if (a == flag || a.rfind(flag + "=", 0) == 0) return true;
  return false;
}

// Flip test-time augmentation: "flip", or "auto" and the configuration trained on
// mirrored images; never when an extra argument says --tta.
bool flip_tta(const FinalTrainingOptions& options, const nlohmann::json& parameters) {
  if (has_flag(options.extra_args, "--tta")) return false;
  if (options.tta != "auto") return options.tta == "flip";
  const auto it = parameters.find("augment_flip");
  return it != parameters.end() && it->is_boolean() && it->get<bool>();
}

std::string describe_candidate(const FinalCandidate& c) {
  std::string s = "trial " + std::to_string(c.trial.sequence) + " " + c.trial.trial_id;
  if (!c.partial) return s + " (final result " + format_metric(c.value) + ")";
  return s + " (best intermediate result " + format_metric(c.value) + " of " +
         std::to_string(c.trial.history.size()) + "; " + c.trial.status + ": " + c.trial.reason +
         ")";
}

}  // namespace

nlohmann::json final_training_parameters(const nlohmann::json& trial_parameters, int epochs) {
  nlohmann::json p = trial_parameters;
  int trained =
      p.contains("epochs") && p["epochs"].is_number_integer() ? p["epochs"].get<int>() : 10;
  if (const double budget = trial_budget(p); budget > 0) trained = budget_epochs(budget);
  p = configuration_of(p);
  p["epochs"] = epochs > 0 ? epochs : trained;
  return p;
}

int final_training_threads(const FinalTrainingOptions& options) {
  int threads = 0;
  const auto& args = options.extra_args;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--threads=", 0) == 0) threads = std::atoi(args[i].c_str() + 10);
    if (args[i] == "--threads" && i + 1 < args.size()) threads = std::atoi(args[i + 1].c_str());
  }
  if (threads > 0) return threads;  // given for each model
  const char* omp = std::getenv("OMP_NUM_THREADS");
  threads = omp ? std::atoi(omp) : 0;
  if (threads <= 0) threads = available_cores();
  return std::max(1, threads / std::max(1, options.models));
}

double ensemble_accuracy(const std::vector<std::string>& files, const std::string& split) {
  std::vector<double> sum;
  std::vector<std::int64_t> labels;
  std::size_t classes = 0;
  for (const std::string& file : files) {
    const auto text = read_small_file(file, 256 << 20);
    const nlohmann::json j = text ? parse_bounded_json(*text) : nlohmann::json();
    const auto bad = [&](const std::string& why) {
      return IoError(file + ": " + why + " (fmnist-trial --predictions writes it)");
    };
    if (!j.is_object() || !j.contains(split) || !j[split].is_object())
      throw bad(text ? "no " + split + " predictions" : "cannot read the predictions");
    const nlohmann::json& p = j[split]["probabilities"];
    const nlohmann::json& l = j[split]["labels"];
    if (!p.is_array() || !l.is_array() || p.size() != l.size() || p.empty())
      throw bad("damaged " + split + " predictions");
    if (labels.empty()) {
      for (const auto& v : l) labels.push_back(v.is_number_integer() ? v.get<std::int64_t>() : -1);
      classes = p[0].is_array() ? p[0].size() : 0;
      sum.assign(labels.size() * classes, 0.0);
    } else if (l.size() != labels.size()) {
      throw bad("predictions of " + std::to_string(l.size()) + " images, not " +
                std::to_string(labels.size()));
    }
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (!l[i].is_number_integer() || l[i].get<std::int64_t>() != labels[i])
        throw bad("the labels differ from the first file's: predictions of other images");
      if (!p[i].is_array() || p[i].size() != classes)
        throw bad("damaged " + split + " predictions");
      for (std::size_t c = 0; c < classes; ++c) {
        if (!p[i][c].is_number()) throw bad("damaged " + split + " predictions");
        sum[i * classes + c] += p[i][c].get<double>();
      }
    }
  }
  if (labels.empty()) throw IoError("an ensemble needs at least one predictions file");
  std::size_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto row = sum.begin() + static_cast<std::ptrdiff_t>(i * classes);
    const auto top = std::max_element(row, row + static_cast<std::ptrdiff_t>(classes)) - row;
    correct += top == labels[i];
  }
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

FinalTrainingEstimate::FinalTrainingEstimate(FinalTrainingOptions options,
                                             std::string experiment_dir)
    : options_(std::move(options)), dir_(std::move(experiment_dir)) {}

double FinalTrainingEstimate::operator()(const TrialRecord& trial) {
  if (!trial.finished() || !trial.started_at || !trial.ended_at || trial.intermediate_count == 0)
    return 0;
  for (const auto& [id, seconds] : cache_)
    if (id == trial.trial_id) return seconds;
  const double seconds = seconds_of(trial);
  cache_.emplace_back(trial.trial_id, seconds);
  return seconds;
}

namespace {

// The share of its cores an epoch of a trial got (its summary's cpu_share), taken as at
// least kMinCpuShare (a correction of at most 4x) and at most 1 (threads that spin
// while waiting count CPU time without progress); 1 when not measured.
double cpu_share_of(const nlohmann::json& epoch) {
  constexpr double kMinCpuShare = 0.25;
  const double share = epoch.value("cpu_share", 0.0);
  if (!(share > 0)) return 1.0;
  return std::clamp(share, kMinCpuShare, 1.0);
}

}  // namespace

double FinalTrainingEstimate::seconds_of(const TrialRecord& trial) const {
  const int epochs =
      final_training_parameters(trial.parameters, options_.epochs)["epochs"].get<int>();
  const double wall = (*trial.ended_at - *trial.started_at) /
                      static_cast<double>(trial.intermediate_count) * epochs;
  try {
    const nlohmann::json s = trial_summary(dir_, trial.trial_id);
    if (!s.is_object() || !s.contains("curve") || !s["curve"].is_array()) return wall;
    // The least disturbed epoch (a busy machine only ever slows a trial down), at the
    // speed it would have had with its cores to itself.
    double train_ips = 0, eval_ips = 0;
    for (const auto& e : s["curve"]) {
      if (!e.is_object()) continue;
      train_ips = std::max(train_ips, e.value("images_per_second", 0.0) / cpu_share_of(e));
      eval_ips = std::max(eval_ips, e.value("eval_images_per_second", 0.0));
    }
    const double images = s.value("train_size", 0.0) + s.value("val_size", 0.0);
    const double threads = s.value("threads", 0.0);
    if (!(train_ips > 0) || !(images > 0) || !(threads > 0)) return wall;
    const double more = static_cast<double>(final_training_threads(options_)) / threads;
    const double speedup = more >= 1 ? 1 + (more - 1) * kThreadEfficiency : more;
    // Test passes: 3 with flip TTA (with and without it); weight averaging adds the last
    // weights' test (2 passes with flip).
    const bool flip = flip_tta(options_, trial.parameters);
    const double passes = (flip ? 3.0 : 1.0) + (options_.ema_epochs > 0 ? (flip ? 2.0 : 1.0) : 0.0);
    const double test =
        s.value("test_size", 10000.0) * passes / (std::max(eval_ips, train_ips) * speedup);
    return epochs * images / (train_ips * speedup) + test + kStartSeconds;
  } catch (const std::exception&) {
    return wall;  // not fmnist-trial's summary
  }
}

namespace {

// One model of the final training: its candidate, directory and process.
struct Member {
  FinalCandidate candidate;
  std::string dir;
  std::unique_ptr<TrialProcess> process;
  ProcessExit exit;
  bool ended = false;
  int seed = 1;            // fmnist-trial --seed
  nlohmann::json summary;  // once it ended with one
};

// The fmnist-trial command of one model.
std::string member_command(const FinalTrainingOptions& options, const Member& m,
                           const std::string& experiment_dir, int threads, double time_left_s) {
  std::string command = "exec " + shell_quote(options.trial_binary) + " --params-file " +
                        shell_quote(m.dir + "/params.json") + " --val-size 0 --output-dir " +
                        shell_quote(m.dir) + " --progress --predictions " +
                        shell_quote(m.dir + "/predictions.json") + " --export-onnx " +
                        shell_quote(m.dir + "/model.onnx") + " --threads " +
                        std::to_string(threads) + " --seed " + std::to_string(m.seed);
  if (flip_tta(options, m.candidate.trial.parameters)) command += " --tta flip";
  if (options.ema_epochs > 0 && !has_flag(options.extra_args, "--ema-epochs")) {
    char ema[64];
    std::snprintf(ema, sizeof ema, " --ema-epochs %g", options.ema_epochs);
    command += ema;
  }
  // The precision the trial measured and trained in: the estimate assumed its speed.
  try {
    const nlohmann::json s = trial_summary(experiment_dir, m.candidate.trial.trial_id);
    if (s.is_object() && s.contains("precision") && s["precision"].is_string() &&
        !has_flag(options.extra_args, "--precision"))
      command += " --precision " + shell_quote(s["precision"].get<std::string>());
  } catch (const std::exception&) {
  }
  if (time_left_s > 0) {
    char limit[64];
    std::snprintf(limit, sizeof limit, "%.0f", std::floor(time_left_s));
    command += std::string(" --time-limit ") + limit;
  }
  for (const std::string& a : options.extra_args) command += " " + shell_quote(a);
  return command;
}

// "0.9486 (0.9457 without flip test-time augmentation; 0.9470 without weight
// averaging; 30 epochs fitted to the time left)"
std::string member_figures(const nlohmann::json& s) {
  char text[160];
  std::snprintf(text, sizeof text, "%.4f", s.value("test_accuracy", 0.0));
  std::string out = text;
  std::string notes;
  if (const auto it = s.find("test_accuracy_without_tta"); it != s.end() && it->is_number()) {
    std::snprintf(text, sizeof text, "%.4f without flip test-time augmentation", it->get<double>());
    notes = text;
  }
  if (const auto it = s.find("test_accuracy_without_ema"); it != s.end() && it->is_number()) {
    std::snprintf(text, sizeof text, "%.4f without weight averaging", it->get<double>());
    notes += (notes.empty() ? "" : "; ") + std::string(text);
  }
  if (const auto it = s.find("time_limit"); it != s.end() && it->is_object()) {
    std::snprintf(text, sizeof text, "%.4g epochs fitted to the time left",
                  it->value("trained_epochs", 0.0));
    notes += (notes.empty() ? "" : "; ") + std::string(text);
  }
  return notes.empty() ? out : out + " (" + notes + ")";
}

// The models' directories with their params.json (an earlier final training's
// ensemble.json goes).
std::vector<Member> prepare_members(const FinalTrainingOptions& options,
                                    const std::vector<FinalCandidate>& chosen,
                                    const ExperimentPaths& paths, int epochs) {
  std::error_code ec;
  fs::remove(paths.final_dir() + "/ensemble.json", ec);
  std::vector<Member> members;
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    Member m;
    m.candidate = chosen[k];
    m.seed = options.ensemble == "seeds" ? static_cast<int>(k) + 1 : 1;
    m.dir = k == 0 ? paths.final_dir() : paths.final_dir() + "/m" + std::to_string(k + 1);
    fs::create_directories(m.dir, ec);
    write_file_atomically(
        m.dir + "/params.json",
        final_training_parameters(m.candidate.trial.parameters, epochs).dump(2) + "\n",
        "the final training's parameters");
    members.push_back(std::move(m));
  }
  return members;
}

// "final training on every training image of ...:" and each model's command, as they start.
void start_members(std::vector<Member>& members, const FinalTrainingOptions& options,
                   const std::string& dir, const ExperimentConfig& config, int threads,
                   double time_left_s, int most) {
  std::printf("\nfinal training on every training image of ");
  if (members.size() > 1 && options.ensemble == "seeds")
    std::printf(
        "an ensemble of the best configuration trained %zu times (seeds 1-%zu), side by "
        "side, %d thread(s) each",
        members.size(), members.size(), threads);
  else if (members.size() > 1)
    std::printf("an ensemble of the %zu best configurations, side by side, %d thread(s) each",
                members.size(), threads);
  else
    std::printf("the best configuration");
  if (time_left_s > 0)
    std::printf(", %d epochs or as many as fit in the %s left (at most %d)", options.epochs,
                format_duration(time_left_s).c_str(), most);
  std::printf(":\n");
  for (Member& m : members) {
    const std::string command = member_command(options, m, dir, threads, time_left_s);
    std::printf("  %s's parameters:\n    %s\n", describe_candidate(m.candidate).c_str(),
                command.c_str() + 5);
    ProcessLaunch launch;
    launch.command = command;
    launch.environment = environment_without_nni();  // standalone
    launch.own_process_group = false;                // the terminal's Ctrl-C reaches it
    if (members.size() > 1) {                        // side by side: each to its own files
      launch.stdout_path = m.dir + "/trial.stdout";
      launch.stderr_path = m.dir + "/trial.stderr";
    }
    // GPUs as the trials had them (every trial has ended by now).
    if (const auto gpus = final_training_gpus(config))
      launch.environment["CUDA_VISIBLE_DEVICES"] = *gpus;
    m.process = std::make_unique<TrialProcess>(launch);
  }
  std::fflush(stdout);
}

// Until every model has ended: stop signals are passed on (a second one kills), and the
// dashboard's requests answered ("stop" stops the final training, the others have
// nothing left to act on). True when the dashboard stopped it.
bool wait_for_members(std::vector<Member>& members, const FinalTrainingOptions& options,
                      const ExperimentPaths& paths) {
  ExperimentStore store = ExperimentStore::open(paths.database(), false);
  bool stopped_from_dashboard = false;
  int forwarded = options.signals ? options.signals() : 0;
  const auto signal_all = [&](int sig) {
    for (Member& m : members)
      if (!m.ended) m.process->signal(sig);
  };
  for (int tick = 0;; ++tick) {
    bool all = true;
    for (Member& m : members) {
      if (!m.ended)
        if (auto e = m.process->poll()) {
          m.exit = *e;
          m.ended = true;
        }
      all = all && m.ended;
    }
    if (all) return stopped_from_dashboard;
    if (options.signals) {
      const int signals = options.signals();
      if (signals != forwarded) {
        forwarded = signals;
        signal_all(signals >= 2 ? SIGKILL : SIGINT);
      }
    }
    if (tick % 5 == 0) {
      for (const ControlRecord& c : store.pending_controls()) {
        std::string answer = "refused: the search has ended; the final training is running";
        if (c.action == "stop") {
          if (!stopped_from_dashboard) signal_all(SIGINT);
          stopped_from_dashboard = true;
          answer = "final training stopped";
        }
        store.control_handled(c.id, unix_now(), answer);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The models that ended with a summary (each failure said); `failure` is the first
// failure's exit code.
std::vector<const Member*> finished_members(std::vector<Member>& members, int& failure) {
  std::vector<const Member*> done;
  for (Member& m : members) {
    const std::string what = members.size() > 1 ? "model " + m.dir : "the final training";
    if (!m.exit.exited() || m.exit.exit_code != 0) {
      std::fprintf(stderr, "fmnist-nas: error: %s failed (%s)\n", what.c_str(),
                   m.exit.describe().c_str());
      if (failure == 0)
        failure = m.exit.exited() ? m.exit.exit_code : static_cast<int>(ExitCode::kInterrupted);
      continue;
    }
    const std::string summary_path = m.dir + "/summary.json";
    const auto text = read_small_file(summary_path, 16 << 20);
    m.summary = text ? parse_bounded_json(*text) : nlohmann::json();
    if (!m.summary.is_object() || !m.summary.contains("test_accuracy") ||
        !m.summary["test_accuracy"].is_number())
      throw IoError(summary_path + ": no numeric test_accuracy in the final summary");
    done.push_back(&m);
  }
  return done;
}

// The ensemble's figures: each model's, then their averaged predictions' (ensemble.json).
void report_ensemble(const std::vector<const Member*>& done, const ExperimentPaths& paths,
                     std::ofstream& log) {
  std::vector<std::string> files;
  nlohmann::json list = nlohmann::json::array();
  for (const Member* m : done) {
    std::printf("  model %s, trial %s, seed %d: test accuracy %s\n", m->dir.c_str(),
                m->candidate.trial.trial_id.c_str(), m->seed, member_figures(m->summary).c_str());
    files.push_back(m->dir + "/predictions.json");
    list.push_back({{"dir", m->dir},
                    {"trial_id", m->candidate.trial.trial_id},
                    {"seed", m->seed},
                    {"test_accuracy", m->summary["test_accuracy"]},
                    {"test_accuracy_without_tta",
                     m->summary.value("test_accuracy_without_tta", nlohmann::json())},
                    {"test_accuracy_without_ema",
                     m->summary.value("test_accuracy_without_ema", nlohmann::json())},
                    {"epochs", m->summary.value("epochs_trained", nlohmann::json())}});
  }
  const double acc = ensemble_accuracy(files, "test");
  const std::string ensemble_path = paths.final_dir() + "/ensemble.json";
  write_file_atomically(
      ensemble_path,
      nlohmann::json{
          {"test_accuracy", acc},
          {"models", list},
          {"test_time_augmentation", done.front()->summary.value("test_time_augmentation", "none")}}
              .dump(2) +
          "\n",
      "the ensemble's figures");
  std::printf(
      "final training: test accuracy %.4f (ensemble of %zu models: their averaged class "
      "probabilities; %s)\n",
      acc, done.size(), ensemble_path.c_str());
  log << format_time(unix_now()) << "  final training: ensemble of " << done.size()
      << " models: test accuracy " << acc << "\n";
}

}  // namespace

int run_final_training(const FinalTrainingOptions& options, const RunResult& result,
                       const std::string& dir, double time_left_s) {
  // An ensemble of seeds: the best configuration, models times; of configurations: the
  // best `models` distinct ones.
  const std::size_t models = static_cast<std::size_t>(std::max(1, options.models));
  std::vector<FinalCandidate> chosen =
      final_candidates(result.trials, result.mode, options.ensemble == "seeds" ? 1 : models);
  if (options.ensemble == "seeds" && !chosen.empty()) chosen.resize(models, chosen.front());
  if (chosen.empty()) {
    std::fprintf(stderr,
                 "fmnist-nas: error: --final-train: no trial has a result, so there are no "
                 "parameters to train\n");
    return static_cast<int>(ExitCode::kNoResult);
  }
  if (::access(options.trial_binary.c_str(), X_OK) != 0)
    throw UsageError("--trial-binary: " + options.trial_binary +
                     " is not an executable fmnist-trial (build it, or name it with "
                     "--trial-binary)");
  const ExperimentPaths paths{dir};
  const int most =
      options.max_epochs > 0 ? std::max(options.max_epochs, options.epochs) : options.epochs;
  FinalTrainingOptions per_model = options;
  per_model.models = static_cast<int>(chosen.size());
  const int threads = final_training_threads(per_model);
  std::vector<Member> members =
      prepare_members(options, chosen, paths, time_left_s > 0 ? most : options.epochs);
  start_members(members, options, dir, ExperimentConfig::from_json(result.experiment.config, dir),
                threads, time_left_s, most);
  if (wait_for_members(members, options, paths)) {
    std::fprintf(stderr, "fmnist-nas: error: the final training was stopped from the dashboard\n");
    return static_cast<int>(ExitCode::kInterrupted);
  }
  // Each model's figures; the ensemble of those that ended with one.
  int failure = 0;
  const std::vector<const Member*> done = finished_members(members, failure);
  if (done.empty()) return failure;
  std::ofstream log(paths.log(), std::ios::app);
  if (members.size() == 1) {
    const Member& m = *done.front();
    std::printf("final training: test accuracy %s (%s/summary.json)\n",
                member_figures(m.summary).c_str(), m.dir.c_str());
    log << format_time(unix_now()) << "  final training of trial " << m.candidate.trial.trial_id
        << ": test accuracy " << m.summary["test_accuracy"].get<double>() << "\n";
    return failure;
  }
  report_ensemble(done, paths, log);
  return failure;
}

}  // namespace nnilib
