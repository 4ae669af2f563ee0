// fmnist-nas: runs an NNI experiment without Python NNI. Reads the config.yml and
// search_space.json that nnictl reads, runs the trial command of every trial over
// NNI's own v3 trial protocol, and stores everything in the experiment directory's
// SQLite database (docs/runner.md).
//
//   fmnist-nas run [--config config.yml]      a new experiment, live table
//   fmnist-nas resume <dir>                   continue after Ctrl-C, a crash or kill -9
//   fmnist-nas show <dir>                     trials table and the best trial
//   fmnist-nas export <dir> --format csv|json
//   fmnist-nas serve <dir>...                 the dashboard of finished or running ones
//   fmnist-nas report <dir>... --html FILE    the dashboard as one self-contained page
// run and resume serve the dashboard of their experiment (docs/dashboard.md).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/common/program.h"
#include "nnilib/dashboard/dashboard_server.h"
#include "nnilib/dashboard/html_report.h"
#include "nnilib/runner/experiment_config.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/final_training.h"
#include "nnilib/runner/runner.h"
#include "nnilib/runner/runner_view.h"
#include "nnilib/runner/trial_process.h"
#include "nnilib/trial/protocol.h"
#include "nnilib/tuner/tuner_registry.h"

namespace {

namespace fs = std::filesystem;
using nnilib::ExitCode;

// The runner sleeps until something happens: a stop signal is something.
void install_signal_handlers() {
  nnilib::install_stop_signals(nnilib::SignalRestart::kYes, nnilib::wake_runner);
}

// The final training's epochs unless --final-epochs says: measured on residual-93, a
// point of the default space, trained on all 60,000 images (docs/results.md "How long
// the final training should be").
constexpr int kDefaultFinalEpochs = 30;
// The most it trains when the search leaves it more time than those epochs need.
constexpr int kDefaultFinalMaxEpochs = 60;
// Models of the final training: the best configuration twice (two seeds) side by side,
// an ensemble (docs/results.md "What the final training's time buys").
constexpr int kDefaultFinalModels = 2;

// Weight averaging in the final training: none. At the end of a schedule annealed to
// zero an average over the last 2.5 epochs changed validation by +0.02-0.04 points and
// test by -0.02 to -0.06 (docs/results.md "Weight averaging and random erasing in a long
// training").
constexpr double kDefaultFinalEmaEpochs = 0;

// The dashboard's port unless --port says (NNI's web UI default); when it is taken,
// the next free one up to 19 later.
constexpr int kDefaultPort = 8080;

// Starts the dashboard of `dirs`; prints its address. A run goes on without it when the
// port cannot be bound (a warning), serve fails (SystemError).
std::unique_ptr<nnilib::DashboardServer> start_dashboard(const std::vector<std::string>& dirs,
                                                         const std::string& host, int port,
                                                         bool control, const std::string& webui,
                                                         bool required) {
  nnilib::DashboardServer::Options options;
  options.host = host;
  options.port = port;
  options.try_next_ports = port == kDefaultPort;
  options.control = control;
  options.nni_webui = webui;
  try {
    auto server = std::make_unique<nnilib::DashboardServer>(dirs, options);
    const std::string moved =
        server->port() != port && port != 0 ? " (port " + std::to_string(port) + " is taken)" : "";
    std::printf("dashboard: %s%s\n", server->url().c_str(), moved.c_str());
    std::fflush(stdout);
    return server;
  } catch (const nnilib::SystemError& e) {
    if (required) throw;
    std::fflush(stdout);
    std::fprintf(stderr, "fmnist-nas: warning: no dashboard: %s\n", e.what());
    return nullptr;
  }
}

struct RunCli {
  std::string config = "config.yml";
  std::string experiment_dir;
  std::string id;
  std::int64_t seed = -1;
  int cores = 0;
  bool plain = false;
  std::int64_t max_trial_number = 0;
  std::string max_experiment_duration;
  int kill_grace_ms = 5000;
  bool final_train = false;
  int final_epochs = kDefaultFinalEpochs;
  int final_max_epochs = kDefaultFinalMaxEpochs;
  int final_models = kDefaultFinalModels;
  std::string final_ensemble = "seeds";
  std::string trial_binary;
  std::vector<std::string> final_args;
  std::vector<std::string> warm_start;
  std::vector<std::string> enqueue;
  std::string final_tta = "auto";
  double final_ema_epochs = kDefaultFinalEmaEpochs;
  std::string time_spent;  // run: spent before it, counted against maxExperimentDuration
  // The dashboard (docs/dashboard.md).
  bool dashboard = true;
  std::string host = "127.0.0.1";
  int port = kDefaultPort;
};

std::string self_directory() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

std::string experiment_dir_of(const std::string& arg) {
  // A database path names its directory too.
  const fs::path p(arg);
  if (p.filename() == "experiment.db")
    return p.parent_path().empty() ? "." : p.parent_path().string();
  return arg;
}

// What --final-train runs (nnilib/runner/final_training.h).
nnilib::FinalTrainingOptions final_training_options(const RunCli& cli) {
  nnilib::FinalTrainingOptions o;
  o.trial_binary = cli.trial_binary.empty() ? self_directory() + "/fmnist-trial" : cli.trial_binary;
  o.epochs = cli.final_epochs;
  o.max_epochs = cli.final_max_epochs;
  o.models = cli.final_models;
  o.ensemble = cli.final_ensemble;
  o.tta = cli.final_tta;
  o.ema_epochs = cli.final_ema_epochs;
  o.extra_args = cli.final_args;
  o.signals = [] { return nnilib::stop_signal_count(); };
  return o;
}

void print_result(const nnilib::RunResult& r, const std::string& dir, bool table) {
  if (table) {
    nnilib::TableOptions options;
    options.width = isatty(1) ? nnilib::terminal_size(1).first : 120;
    options.mode = r.mode;
    options.now = nnilib::unix_now();
    std::printf("\n%s", nnilib::format_trials_table(r.trials, options).c_str());
  }
  if (r.best) {
    std::printf(
        "\nbest: trial %lld %s, final %s\n  parameters %s\n  %s (fmnist-trial --params-file "
        "%s)\n",
        static_cast<long long>(r.best->sequence), r.best->trial_id.c_str(),
        nnilib::format_metric(r.best->final_default).c_str(), r.best->parameters.dump().c_str(),
        r.best_parameters_path.c_str(), r.best_parameters_path.c_str());
  } else if (!r.trials.empty()) {
    std::printf("\nno trial succeeded with a final result; see %s/trials/<id>/trial.stderr\n",
                dir.c_str());
  }
  if (r.interrupted) std::printf("interrupted; continue with: fmnist-nas resume %s\n", dir.c_str());
  std::fflush(stdout);
}

// The limits given on the command line (they replace the config's or the stored ones).
nnilib::ExperimentLimits limits_of(const RunCli& cli) {
  nnilib::ExperimentLimits limits;
  if (cli.max_trial_number > 0) limits.max_trial_number = cli.max_trial_number;
  if (!cli.max_experiment_duration.empty())
    limits.max_experiment_duration_s = nnilib::parse_duration(cli.max_experiment_duration);
  return limits;
}

int run_session(const RunCli& cli, const std::string& dir) {
  install_signal_handlers();
  const bool live = !cli.plain && isatty(1);
  nnilib::ConsoleView view(stdout, live);
  nnilib::RunnerOptions options;
  options.cores = cli.cores;
  options.kill_grace = std::chrono::milliseconds(cli.kill_grace_ms);
  options.stop_signal = [] { return nnilib::first_stop_signal(); };
  options.kill_now = [] { return nnilib::stop_signal_count() >= 2; };
  options.observer = &view;
  options.limits = limits_of(cli);
  if (cli.final_train) {
    // The final training happens inside maxExperimentDuration: the search leaves it time.
    options.final_reserve_s = nnilib::FinalTrainingEstimate(final_training_options(cli), dir);
  }
  // Served until this session ends, the final training included.
  // (Not when another runner holds the experiment: run_experiment refuses it below.)
  const auto dashboard = cli.dashboard && !nnilib::experiment_running(dir)
                             ? start_dashboard({dir}, cli.host, cli.port, true, "", false)
                             : nullptr;
  // The final training runs while the runner still holds the experiment: a resume
  // elsewhere is refused and the dashboard shows it live.
  int final_code = 0;
  bool printed = false;
  if (cli.final_train) {
    options.after_search = [&](const nnilib::RunResult& r) {
      print_result(r, dir, !live);
      printed = true;
      const auto limit =
          nnilib::ExperimentConfig::from_json(r.experiment.config, dir).max_experiment_duration_s;
      // What the search left of maxExperimentDuration (the process start and the test
      // are inside fmnist-trial's limit), less 2 s for this side.
      const double left =
          limit ? std::max(1.0, static_cast<double>(*limit) - r.experiment.elapsed_s - 2.0) : 0.0;
      final_code = nnilib::run_final_training(final_training_options(cli), r, dir, left);
    };
  }
  const nnilib::RunResult result = nnilib::run_experiment(dir, options);
  if (!printed) print_result(result, dir, !live);
  if (result.interrupted) return static_cast<int>(ExitCode::kInterrupted);
  // A search whose every trial failed is not a success a script may take for one.
  if (!cli.final_train && !result.best) return static_cast<int>(ExitCode::kNoResult);
  return final_code;
}

// --time-spent: what the calling command spent before the run comes off
// maxExperimentDuration (the experiment records the rest). A line for stdout, or "".
std::string take_time_spent(const std::string& spent_text, nnilib::ExperimentConfig& config) {
  if (spent_text.empty() || !config.max_experiment_duration_s) return "";
  std::int64_t spent = 0;
  try {
    spent = nnilib::parse_duration(spent_text);
  } catch (const nnilib::ParamError& e) {
    throw nnilib::UsageError(std::string("--time-spent: ") + e.what());
  }
  const std::int64_t limit = *config.max_experiment_duration_s;
  const std::string limit_text = nnilib::format_duration(static_cast<double>(limit));
  if (spent >= limit)
    throw nnilib::UsageError("--time-spent " + spent_text +
                             ": nothing is left of maxExperimentDuration " + limit_text);
  config.max_experiment_duration_s = limit - spent;
  return "maxExperimentDuration " + limit_text + " less " +
         nnilib::format_duration(static_cast<double>(spent)) +
         " spent before the run: " + nnilib::format_duration(static_cast<double>(limit - spent)) +
         "\n";
}

int cmd_run(RunCli cli) {
  nnilib::ExperimentConfig config = nnilib::ExperimentConfig::load(cli.config);
  config.apply(limits_of(cli));
  const std::string spent_line = take_time_spent(cli.time_spent, config);
  cli.max_trial_number = 0;  // stored in the config now
  cli.max_experiment_duration.clear();
  nnilib::NewExperimentOptions create;
  create.experiment_dir = cli.experiment_dir;
  create.id = cli.id;
  create.warm_start = cli.warm_start;
  create.enqueue = cli.enqueue;
  if (cli.seed >= 0) create.seed = static_cast<std::uint64_t>(cli.seed);
  const std::string dir = nnilib::create_experiment(config, create);
  std::printf("experiment directory: %s\n%s", dir.c_str(), spent_line.c_str());
  std::fflush(stdout);
  return run_session(cli, dir);
}

int cmd_resume(const RunCli& cli, const std::string& dir_arg) {
  const std::string dir = fs::absolute(experiment_dir_of(dir_arg)).lexically_normal().string();
  std::printf("experiment directory: %s\n", dir.c_str());
  std::fflush(stdout);
  return run_session(cli, dir);
}

struct Loaded {
  nnilib::ExperimentRecord experiment;
  std::vector<nnilib::TrialRecord> trials;
  nnilib::OptimizeMode mode = nnilib::OptimizeMode::kMaximize;
  std::string dir;
};

Loaded load(const std::string& dir_arg) {
  Loaded l;
  l.dir = experiment_dir_of(dir_arg);
  nnilib::ExperimentPaths{l.dir}.require_existing();
  const nnilib::ExperimentStore store =
      nnilib::ExperimentStore::open(nnilib::ExperimentPaths{l.dir}.database(), true);
  l.experiment = store.experiment();
  l.trials = store.trials();
  try {
    l.mode = nnilib::optimize_mode_of(
        nnilib::ExperimentConfig::from_json(l.experiment.config, store.path()));
  } catch (const nnilib::ParamError&) {
    // Show what is stored even when its config no longer validates.
  }
  return l;
}

int cmd_show(const std::string& dir_arg, int width) {
  const Loaded l = load(dir_arg);
  const nnilib::ExperimentRecord& e = l.experiment;
  std::string status = e.status;
  if (e.status == "RUNNING" && !nnilib::experiment_running(l.dir))
    status =
        "RUNNING in the database, but no runner holds it (killed?): fmnist-nas resume " + l.dir;
  std::map<std::string, int> counts;
  for (const auto& t : l.trials) counts[t.status] += 1;
  std::string count_text;
  for (const auto& [s, n] : counts)
    count_text += (count_text.empty() ? "" : ", ") + std::to_string(n) + " " + s;
  const auto& cfg = e.config;
  std::printf("experiment %s%s  %s%s\n", e.id.c_str(),
              e.name.empty() ? "" : (" \"" + e.name + "\"").c_str(), status.c_str(),
              e.end_reason.empty() ? "" : (" (" + e.end_reason + ")").c_str());
  std::printf("  directory %s\n", fs::absolute(l.dir).lexically_normal().c_str());
  std::printf("  tuner %s (%s)%s, concurrency %d, elapsed %s over %d session(s)\n",
              cfg.value("tuner", nlohmann::ordered_json::object()).value("name", "?").c_str(),
              l.mode == nnilib::OptimizeMode::kMaximize ? "maximize" : "minimize",
              cfg.contains("assessor") && cfg["assessor"].is_object()
                  ? (", assessor " + cfg["assessor"].value("name", "?")).c_str()
                  : "",
              cfg.value("trialConcurrency", 1), nnilib::format_duration(e.elapsed_s).c_str(),
              e.sessions);
  std::printf("  trials %zu%s%s\n\n", l.trials.size(), count_text.empty() ? "" : ": ",
              count_text.c_str());
  nnilib::TableOptions options;
  options.width = width > 0 ? width : (isatty(1) ? nnilib::terminal_size(1).first : 120);
  options.mode = l.mode;
  options.now = nnilib::unix_now();
  options.experiment_dir = l.dir;
  std::printf("%s", nnilib::format_trials_table(l.trials, options).c_str());
  if (const auto best = nnilib::best_trial(l.trials, l.mode)) {
    std::printf("\nbest: trial %lld %s, final %s\n  parameters %s\n",
                static_cast<long long>(best->sequence), best->trial_id.c_str(),
                nnilib::format_metric(best->final_default).c_str(),
                best->parameters.dump().c_str());
    if (best->final_value && best->final_value->is_object())
      std::printf("  final result %s\n", best->final_value->dump().c_str());
  } else {
    std::printf("\nno trial has succeeded with a final result yet\n");
  }
  bool header = false;
  for (const auto& t : l.trials) {
    if (t.reason.empty()) continue;
    if (!header) std::printf("\nnotes:\n");
    header = true;
    std::printf("  trial %lld %s %s: %s\n", static_cast<long long>(t.sequence), t.trial_id.c_str(),
                t.status.c_str(), t.reason.c_str());
  }
  return 0;
}

int cmd_export(const std::string& dir_arg, const std::string& format, const std::string& output) {
  const std::string dir = experiment_dir_of(dir_arg);
  const Loaded l = load(dir);  // checks that dir is an experiment
  const nnilib::ExperimentStore store =
      nnilib::ExperimentStore::open(nnilib::ExperimentPaths{dir}.database(), true);
  std::string text;
  if (format == "csv") {
    text = nnilib::export_csv(l.trials);
  } else {
    text = nnilib::export_json(l.experiment, l.trials, store.metrics(), l.mode)
               .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n";
  }
  if (output.empty() || output == "-") {
    // A full disk or a closed pipe behind stdout is an error like one behind -o.
    errno = 0;
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
        std::fflush(stdout) != 0) {
      const int error = errno;
      std::clearerr(stdout);
      throw nnilib::IoError("standard output: cannot write the export (" +
                            std::string(error != 0 ? std::strerror(error) : "write failed") + ")");
    }
    return 0;
  }
  // Never overwrite what the experiment is made of (its database, best.json, ...).
  std::error_code ec;
  const fs::path target = fs::weakly_canonical(output, ec);
  const fs::path root = fs::weakly_canonical(dir, ec);
  const auto [end, _] = std::mismatch(root.begin(), root.end(), target.begin(), target.end());
  if (end == root.end() && fs::exists(target, ec)) {
    throw nnilib::UsageError("-o " + output +
                             ": is a file of the experiment itself; write the export elsewhere");
  }
  nnilib::write_file_atomically(output, text, "the export");
  return 0;
}

void add_address_options(CLI::App* app, std::string& host, int& port);

void add_session_options(CLI::App* app, RunCli& cli) {
  app->add_option("--cores", cli.cores,
                  "cores shared by the concurrent trials (default: all this process may use); "
                  "each trial gets cores/trialConcurrency threads unless OMP_NUM_THREADS is set")
      ->check(CLI::PositiveNumber);
  app->add_flag("--plain", cli.plain, "one line per event even on a terminal (no live table)");
  app->add_option("--max-trial-number", cli.max_trial_number,
                  "override maxTrialNumber (e.g. to extend a finished experiment on resume)")
      ->check(CLI::PositiveNumber);
  app->add_option(
      "--max-experiment-duration", cli.max_experiment_duration,
      "override maxExperimentDuration (\"2h\", \"90m\", ...), counted over every session");
  app->add_option("--kill-grace-ms", cli.kill_grace_ms,
                  "SIGINT, then SIGKILL this much later (NNI: 5000)")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  app->add_flag("--final-train,!--no-final-train", cli.final_train,
                "after the search, retrain the best parameters on all 60,000 training images "
                "(fmnist-trial --val-size 0) and report the test accuracy, all inside "
                "maxExperimentDuration (--no-final-train: not; the last one given wins)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->add_option("--final-epochs", cli.final_epochs,
                  "epochs of the final training (0: as many as the best trial trained); its "
                  "estimated time is kept free at the end of maxExperimentDuration "
                  "(docs/results.md)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app->add_option("--final-max-epochs", cli.final_max_epochs,
                  "the most epochs the final training trains when the search leaves it more "
                  "time than --final-epochs need (it fits its epochs to the time left)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app->add_option("--final-models", cli.final_models,
                  "models of the final training, trained side by side (cores / N threads each), "
                  "their class probabilities averaged for the test (an ensemble; "
                  "--final-ensemble says of what); 1: the best configuration alone")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  app->add_option("--final-ensemble", cli.final_ensemble,
                  "what the --final-models are: seeds (the best configuration with seeds 1..N) "
                  "or configurations (the N best distinct configurations)")
      ->check(CLI::IsMember({"seeds", "configurations"}))
      ->capture_default_str();
  app->add_option("--final-tta", cli.final_tta,
                  "test-time augmentation of the final model's test: flip (average each "
                  "image's and its mirror image's predictions), none, or auto: flip when the "
                  "configuration trained on mirrored images (augment_flip)")
      ->check(CLI::IsMember({"auto", "flip", "none"}))
      ->capture_default_str();
  app->add_option("--final-ema-epochs", cli.final_ema_epochs,
                  "weight averaging in the final training: each model evaluates and saves an "
                  "exponential moving average of its weights with this time constant in "
                  "epochs (0 = none; fmnist-trial --ema-epochs)")
      ->check(
          [](const std::string& text) -> std::string {
            // Checked before the search, not when the final models start hours later;
            // the same bounds as fmnist-trial's (NaN and infinity pass CLI11's checks).
            const double v = std::strtod(text.c_str(), nullptr);
            if (v >= 0 && v <= 1e6) return "";
            return text +
                   ": expected 0 (no weight averaging) or a time constant in epochs "
                   "up to 1e6, e.g. 2.5";
          },
          "EPOCHS")
      ->capture_default_str();
  app->add_option("--trial-binary", cli.trial_binary,
                  "the fmnist-trial of --final-train (default: the one next to fmnist-nas)");
  app->add_option("--final-arg", cli.final_args,
                  "an extra argument for the final fmnist-trial (repeatable), e.g. "
                  "--final-arg=--threads --final-arg=2")
      ->allow_extra_args(false);
  app->add_flag("--dashboard,!--no-dashboard", cli.dashboard,
                "serve the experiment's live dashboard while it runs (docs/dashboard.md)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_address_options(app, cli.host, cli.port);
}

// --host and --port of the dashboard (run, resume, serve).
void add_address_options(CLI::App* app, std::string& host, int& port) {
  app->add_option("--host", host,
                  "the dashboard's address: 127.0.0.1 (this machine only) unless given, e.g. "
                  "0.0.0.0 for every interface (no login: prefer an SSH tunnel)")
      ->capture_default_str();
  app->add_option("--port", port,
                  "the dashboard's port (0: any free one); the default 8080 moves to the next "
                  "free port up to 8099")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
}

// experiment_dir_of() of each argument.
std::vector<std::string> experiment_dirs_of(const std::vector<std::string>& args) {
  std::vector<std::string> dirs;
  for (const std::string& a : args) dirs.push_back(experiment_dir_of(a));
  return dirs;
}

// Serves the dashboard of `dirs` until SIGINT or SIGTERM.
int cmd_serve(const std::vector<std::string>& dir_args, const std::string& host, int port,
              const std::string& webui) {
  const std::vector<std::string> dirs = experiment_dirs_of(dir_args);
  install_signal_handlers();
  const auto server = start_dashboard(dirs, host, port, false, webui, true);
  std::printf("serving %zu experiment(s) read-only; Ctrl-C stops\n", dirs.size());
  std::fflush(stdout);
  while (nnilib::first_stop_signal() == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}

int cmd_report(const std::vector<std::string>& dir_args, const std::string& output) {
  // dashboard_report_html checks each directory (UsageError naming a bad one).
  nnilib::write_file_atomically(output, nnilib::dashboard_report_html(experiment_dirs_of(dir_args)),
                                "the report");
  std::printf("report: %s\n", output.c_str());
  return 0;
}

// `run`'s own options (the session's come from add_session_options), and its footer.
void add_run_options(CLI::App* run, RunCli& cli) {
  run->footer([] {
    // The tuners config.yml may name (tuner.name or advisor.name), from the registry.
    std::string text = "Tuners (config.yml tuner.name, any case; classArgs in docs/runner.md):";
    for (const nnilib::TunerEntry& e : nnilib::tuner_registry())
      text += "\n  " + e.name + std::string(e.name.size() < 10 ? 10 - e.name.size() : 1, ' ') +
              e.summary;
    return text + "\nAssessor: Medianstop (NNI's median stopping rule).";
  }());
  run->add_option("--config", cli.config, "the NNI v2 experiment config")->capture_default_str();
  run->add_option("--experiment-dir", cli.experiment_dir,
                  "the experiment directory (default: <experimentWorkingDirectory>/<id>)");
  run->add_option("--id", cli.id, "the experiment id: 8 lowercase letters or digits");
  run->add_option("--seed", cli.seed, "the tuner seed (default: derived from the id)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--warm-start", cli.warm_start,
                  "earlier experiment directories whose results seed the tuner (BOHB's "
                  "densities, TPE's history): their succeeded trials inside this search space")
      ->expected(1, -1);
  run->add_option("--enqueue", cli.enqueue,
                  "parameters files (JSON, points of the search space) trained first, in this "
                  "order and as given (their TRIAL_BUDGET, their own schedule), before the "
                  "tuner proposes; the tuner takes their results")
      ->expected(1, -1);
  run->add_option("--time-spent", cli.time_spent,
                  "time the calling command already spent toward maxExperimentDuration (an "
                  "NNI duration; scripts/run.sh passes its setup and build): the experiment "
                  "gets the rest, so that the command as a whole keeps the limit");
  add_session_options(run, cli);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fmnist-nas: run an NNI experiment (config.yml + search_space.json) without Python NNI.\n"
      "Trials run as NNI 3.x runs them and talk NNI's v3 trial protocol; everything is stored in\n"
      "<experimentWorkingDirectory>/<id>/experiment.db (SQLite). See docs/runner.md."};
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  RunCli run_cli;
  CLI::App* run = app.add_subcommand("run", "start a new experiment (prints its directory first)");
  add_run_options(run, run_cli);

  RunCli resume_cli;
  std::string resume_dir;
  CLI::App* resume = app.add_subcommand(
      "resume",
      "continue an experiment after Ctrl-C, a crash or kill -9: finished trials are "
      "kept, interrupted ones run again");
  resume->add_option("dir", resume_dir, "the experiment directory")->required();
  add_session_options(resume, resume_cli);

  std::string show_dir;
  int show_width = 0;
  CLI::App* show = app.add_subcommand("show", "print the trials table and the best trial");
  show->add_option("dir", show_dir, "the experiment directory")->required();
  show->add_option("--width", show_width, "table width (default: the terminal's, else 120)")
      ->check(CLI::Range(60, 1000));

  std::string export_dir, export_format, export_output;
  CLI::App* exp = app.add_subcommand("export", "export every trial as CSV or JSON");
  exp->add_option("dir", export_dir, "the experiment directory")->required();
  exp->add_option("--format", export_format, "csv or json")
      ->required()
      ->check(CLI::IsMember({"csv", "json"}));
  exp->add_option("--output,-o", export_output, "write to this file (default: stdout)");

  std::vector<std::string> serve_dirs;
  std::string serve_host = "127.0.0.1", serve_webui;
  int serve_port = kDefaultPort;
  CLI::App* serve = app.add_subcommand(
      "serve", "serve the dashboard of finished or running experiments, read-only");
  serve->add_option("dir", serve_dirs, "experiment directories")->required();
  add_address_options(serve, serve_host, serve_port);
  serve->add_option("--nni-webui", serve_webui,
                    "also serve NNI's own web UI (the `static` folder of an NNI installation, "
                    "nni_node/static) at /, for the first experiment; the dashboard moves to "
                    "/dashboard/");

  std::vector<std::string> report_dirs;
  std::string report_html;
  CLI::App* report = app.add_subcommand(
      "report", "write the dashboard of experiments as one self-contained HTML file");
  report->add_option("dir", report_dirs, "experiment directories")->required();
  report->add_option("--html", report_html, "the HTML file to write")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  }
  try {
    if (run->parsed()) return cmd_run(run_cli);
    if (resume->parsed()) return cmd_resume(resume_cli, resume_dir);
    if (show->parsed()) return cmd_show(show_dir, show_width);
    if (exp->parsed()) return cmd_export(export_dir, export_format, export_output);
    if (serve->parsed()) return cmd_serve(serve_dirs, serve_host, serve_port, serve_webui);
    if (report->parsed()) return cmd_report(report_dirs, report_html);
    return static_cast<int>(ExitCode::kUsage);
  } catch (const std::exception& e) {
    return nnilib::exit_on_exception("fmnist-nas", e);
  }
}
