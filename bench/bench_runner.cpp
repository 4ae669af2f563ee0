// bench_runner: the embedded runner's own cost. Figures and ratios, never pass/fail.
//
// 1. Overhead per trial, with trials that do nothing: its parts (spawning
//    /bin/bash -c, one parameter + FINAL exchange on the v3 channel, the database
//    transactions of one trial) and whole experiments of N no-op trials (`exit 0`,
//    and this program re-run as a C++ trial that fetches its parameters and
//    reports a FINAL) compared with the same commands run alone. Target: < 50 ms.
// 2. A real training trial (fmnist-trial, tiny subset) alone and under the runner:
//    wall time and the trial's own training time, and their ratio.
//
//   bench_runner [--trials 40] [--repeats 3] [--no-training] [--trial-binary F]
//                [--train-images 10000] [--epochs 2]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <httplib.h>
#include <unistd.h>

#include "nnilib/runner/experiment_config.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/runner.h"
#include "nnilib/runner/trial_process.h"
#include "nnilib/trial/trial.h"
#include "runner/channel_server.h"

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::string self_path() { return fs::read_symlink("/proc/self/exe").string(); }

// Runs as an NNI trial that does nothing: parameters in, one FINAL out.
int as_trial() {
  nnilib::Trial trial = nnilib::Trial::from_environment({{"x", 0.5}});
  const json& p = trial.parameters();
  trial.report_final_result(p.value("x", 0.5));
  return 0;
}

std::string scratch() {
  std::string d =
      (fs::temp_directory_path() / ("bench-runner-" + std::to_string(::getpid()))).string();
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// One experiment of `trials` sequential trials running `command`; seconds per trial.
double runner_per_trial(const std::string& dir, const std::string& command, int trials,
                        int concurrency = 1) {
  const std::string config = dir + "/config.yml";
  {
    std::ofstream out(config);
    out << "searchSpace: {x: {_type: uniform, _value: [0, 1]}}\n"
        << "trialCommand: " << command << "\n"
        << "trialCodeDirectory: .\n"
        << "trialConcurrency: " << concurrency << "\n"
        << "maxTrialNumber: " << trials << "\n"
        << "tuner: {name: Random}\n"
        << "trainingService: {platform: local}\n";
  }
  const auto cfg = nnilib::ExperimentConfig::load(config);
  nnilib::NewExperimentOptions create;
  create.experiment_dir =
      dir + "/exp-" + std::to_string(clock_type::now().time_since_epoch().count());
  const std::string exp = nnilib::create_experiment(cfg, create);
  nnilib::RunnerOptions options;
  const auto t0 = clock_type::now();
  const nnilib::RunResult r = nnilib::run_experiment(exp, options);
  const double s = seconds_since(t0);
  for (const auto& t : r.trials) {
    if (t.status != nnilib::kSucceeded)
      std::fprintf(stderr, "bench_runner: trial %s %s: %s\n", t.trial_id.c_str(), t.status.c_str(),
                   t.reason.c_str());
  }
  return s / static_cast<double>(r.trials.size());
}

// The same command `n` times alone, as the runner starts it (bash -c, files); seconds each.
double alone_per_run(const std::string& dir, const std::string& command, int n,
                     const nnilib::EnvironmentMap& extra = {}) {
  nnilib::ProcessLaunch launch;
  launch.command = command;
  launch.working_directory = dir;
  launch.stdout_path = dir + "/alone.stdout";
  launch.stderr_path = dir + "/alone.stderr";
  launch.environment = nnilib::environment_without_nni();
  for (const auto& [k, v] : extra) launch.environment[k] = v;
  const auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i) {
    nnilib::TrialProcess p(launch);
    p.wait();
  }
  return seconds_since(t0) / n;
}

void overhead(int trials, int repeats) {
  const std::string dir = scratch();
  std::printf("runner overhead per trial (%d trials per experiment, median of %d)\n", trials,
              repeats);

  // Parts: spawn, channel, database.
  std::vector<double> spawn, channel, db;
  for (int r = 0; r < repeats; ++r) {
    spawn.push_back(alone_per_run(dir, "exit 0", trials));

    nnilib::ChannelServer server;
    httplib::Client client("127.0.0.1", server.port());
    nnilib::ParameterRecord record;
    record.parameter_id = 0;
    record.parameters = {{"x", 0.5}};
    auto t0 = clock_type::now();
    for (int i = 0; i < trials; ++i) {
      const std::string id = "T" + std::to_string(10000 + i);
      record.parameter_id = i;
      server.add_trial(id, record);
      const std::string path = "/env/local-env/" + id;
      client.Put(path.c_str(), nnilib::encode_request_parameter_command(), "application/json");
      client.Get(path.c_str());
      nnilib::Metric m;
      m.parameter_id = i;
      m.trial_job_id = id;
      m.type = nnilib::MetricType::kFinal;
      m.value = 0.5;
      client.Put(path.c_str(), nnilib::encode_metric_command(nnilib::encode_metric(m)),
                 "application/json");
      server.wait_events(std::chrono::milliseconds(0));
      server.remove_trial(id);
    }
    channel.push_back(seconds_since(t0) / trials);

    nnilib::ExperimentRecord e;
    e.id = "benchdb" + std::to_string(r);
    e.config = json::object();
    auto store = nnilib::ExperimentStore::create(dir + "/" + e.id + ".db", e);
    t0 = clock_type::now();
    for (int i = 0; i < trials; ++i) {
      nnilib::TrialRecord t;
      t.trial_id = "D" + std::to_string(10000 + i);
      t.sequence = i;
      t.parameter_id = i;
      t.parameters = {{"x", 0.5}};
      store.insert_trial(t);
      store.trial_started(t.trial_id, 1, nnilib::unix_now());
      store.parameter_sent(t.trial_id);
      nnilib::MetricRecord m;
      m.trial_id = t.trial_id;
      m.type = nnilib::MetricType::kFinal;
      m.value = 0.5;
      m.default_value = 0.5;
      m.received_at = nnilib::unix_now();
      store.add_metric(m);
      t.status = nnilib::kSucceeded;
      t.exit_code = 0;
      store.trial_ended(t);
    }
    db.push_back(seconds_since(t0) / trials);
  }
  std::printf("  %-58s %8.2f ms\n", "spawn /bin/bash -c 'exit 0' and reap it", 1e3 * median(spawn));
  std::printf("  %-58s %8.2f ms\n", "channel: request_parameter + GET + FINAL (HTTP, validated)",
              1e3 * median(channel));
  std::printf("  %-58s %8.2f ms\n", "database: the 5 transactions of one trial (WAL)",
              1e3 * median(db));

  // Whole experiments versus the same commands alone.
  const std::string self_trial = "exec '" + self_path() + "' --as-trial";
  struct Row {
    const char* what;
    std::string command;
  };
  for (const Row& row : {Row{"no-op trial `exit 0`", "exit 0"},
                         Row{"no-op C++ NNI trial (parameters in, FINAL out)", self_trial}}) {
    std::vector<double> under, alone;
    for (int r = 0; r < repeats; ++r) {
      under.push_back(runner_per_trial(dir, row.command, trials));
      alone.push_back(alone_per_run(dir, row.command, trials));
    }
    const double u = median(under), a = median(alone);
    std::printf(
        "  %s\n    under the runner %7.2f ms/trial, alone %7.2f ms/run, runner overhead "
        "%6.2f ms/trial (target < 50 ms)\n",
        row.what, 1e3 * u, 1e3 * a, 1e3 * (u - a));
  }
  fs::remove_all(dir);
}

void training(const std::string& binary, int repeats, int train_images, int epochs) {
  const std::string dir = scratch();
  const int cores = nnilib::available_cores();
  const std::string args =
      " --train-size " + std::to_string(train_images) +
      " --val-size 1000 --test-size 1000 --params '{\"epochs\":" + std::to_string(epochs) + "}'";
  std::printf(
      "\ntraining trial alone vs under the runner (fmnist-trial, %d images, %d epochs, "
      "%d thread(s), precision %s, median of %d)\n",
      train_images, epochs, cores,
      std::getenv("NNILIB_PRECISION") ? std::getenv("NNILIB_PRECISION") : "auto", repeats);
  std::vector<double> wall_alone, wall_under, train_alone, train_under;
  auto trial_seconds = [](const std::string& summary) {
    std::ifstream in(summary);
    const json j = json::parse(in, nullptr, false);
    return j.is_object() && j.contains("seconds") ? j["seconds"].get<double>() : 0.0;
  };
  auto run_alone = [&](int r) {
    // The same threads the runner gives a single trial (OMP_NUM_THREADS = cores).
    const std::string out = dir + "/alone" + std::to_string(r);
    fs::create_directories(out);
    const auto t0 = clock_type::now();
    alone_per_run(dir, "exec '" + binary + "'" + args + " --output-dir " + out, 1,
                  {{"OMP_NUM_THREADS", std::to_string(cores)}});
    wall_alone.push_back(seconds_since(t0));
    train_alone.push_back(trial_seconds(out + "/summary.json"));
  };
  auto run_under = [&](int r) {
    const std::string config = dir + "/config.yml";
    std::ofstream(config) << "searchSpace: {nb_units: {_type: choice, _value: [100]}}\n"
                          << "trialCommand: exec '" << binary << "'" << args << "\n"
                          << "trialCodeDirectory: .\ntrialConcurrency: 1\nmaxTrialNumber: 1\n"
                          << "tuner: {name: GridSearch}\ntrainingService: {platform: local}\n";
    nnilib::NewExperimentOptions create;
    create.experiment_dir = dir + "/exp" + std::to_string(r);
    const std::string exp =
        nnilib::create_experiment(nnilib::ExperimentConfig::load(config), create);
    const auto t1 = clock_type::now();
    const auto result = nnilib::run_experiment(exp, nnilib::RunnerOptions{});
    wall_under.push_back(seconds_since(t1));
    train_under.push_back(
        result.trials.empty()
            ? 0.0
            : trial_seconds(exp + "/trials/" + result.trials[0].trial_id + "/summary.json"));
  };
  // Alternate which goes first, so a change in the machine's load hits both alike.
  for (int r = 0; r < repeats; ++r) {
    if (r % 2 == 0) {
      run_alone(r);
      run_under(r);
    } else {
      run_under(r);
      run_alone(r);
    }
  }
  auto row = [](const char* what, const std::vector<double>& alone,
                const std::vector<double>& under) {
    const double am = median(alone), um = median(under);
    const double a0 = *std::min_element(alone.begin(), alone.end());
    const double u0 = *std::min_element(under.begin(), under.end());
    std::printf(
        "  %-14s alone %6.2f s (min %6.2f)   under the runner %6.2f s (min %6.2f)   "
        "ratio %.3f (min %.3f)\n",
        what, am, a0, um, u0, am > 0 ? um / am : 0, a0 > 0 ? u0 / a0 : 0);
  };
  row("wall time", wall_alone, wall_under);
  row("training time", train_alone, train_under);
  std::printf("  (medians, and minima: the least disturbed run; keep the machine quiet)\n");
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--as-trial") return as_trial();
  CLI::App app{
      "bench_runner: the embedded runner's overhead per trial, and a training trial "
      "alone vs under the runner"};
  int trials = 40, repeats = 3, train_images = 10000, epochs = 2;
  bool no_training = false;
  std::string binary = NNILIB_FMNIST_TRIAL;
  app.add_option("--trials", trials, "no-op trials per experiment")->check(CLI::PositiveNumber);
  app.add_option("--repeats", repeats, "repeats (the median is reported)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-training", no_training, "skip the training comparison");
  app.add_option("--trial-binary", binary, "the fmnist-trial to train with");
  app.add_option("--train-images", train_images, "training images of the training trial")
      ->check(CLI::PositiveNumber);
  app.add_option("--epochs", epochs, "epochs of the training trial")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    overhead(trials, repeats);
    if (!no_training) training(binary, repeats, train_images, epochs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_runner: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
