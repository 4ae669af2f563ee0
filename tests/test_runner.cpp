// fmnist-nas end to end, as a user runs it: real runner processes, real trial
// processes. The trial is a bash script that speaks NNI's v3 channel with curl
// only (as a non-C++ NNI trial would); its behaviour per trial is chosen by
// NNI_TRIAL_SEQ_ID from the MODES variable of the trialCommand.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "nni_standin/child_process.h"
#include "nni_standin/metric_files.h"
#include "nnilib/runner/experiment_config.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/runner.h"

using nlohmann::json;
using namespace std::chrono_literals;
using nnilib::standin::ChildProcess;
using nnilib::standin::ProcessResult;
using nnilib::standin::TempDir;

namespace {

// MODES="ok crash ..." picks the behaviour of trial k (the last one repeats):
//   ok       request parameters, report STEPS results (value x, or VALUES[k][step]), a FINAL
//   crash    writes an error on stderr and exits 3
//   hang     reports once, then ignores SIGINT and sleeps (killed at maxTrialDuration)
//   malformed  reports a lower-case "final" (a real NNI's tuner dies), then waits
//   noparam  never asks for parameters, exits 0
//   dropped  first sends a PUT without the JSON content type (NNI ignores it), then as ok
//   deepmetric  reports a PERIODICAL whose value is an array nested 30,000 levels, then waits
//   deepbody    PUTs a body nested 30,000 levels (not even an object), then waits
//   stall    as ok, but after its second result waits 60 s: only a stop ends it soon
// SLEEP seconds between results, or SLEEP_PER_BUDGET seconds per unit of TRIAL_BUDGET
// the trial trains (less the budget of the checkpoint it continues) spread over its
// steps. PROGRESS=1: a progress.json after each result, its time left at that pace.
// GATE=DIR: before its FINAL, waits until DIR/release-<NNI_TRIAL_SEQ_ID> or DIR/release-all
// exists (the test decides when each trial ends: events, not sleeps).
// On SIGINT: prints "got SIGINT", exits 130.
const std::string kTrialScript = "#!/bin/bash\nsource '" NNILIB_SOURCE_DIR
                                 "/tests/curl_trial.sh'\n"
                                 R"BASH(
modes=(${MODES:-ok})
mode=${modes[$NNI_TRIAL_SEQ_ID]:-${modes[-1]}}
env | grep -E '^(NNI_|NNILIB_|OMP_NUM_THREADS|MKL_NUM_THREADS|CUDA_VISIBLE_DEVICES)' | sort > "$NNI_OUTPUT_DIR/env.txt"
[ -n "$NNILIB_CHECKPOINT" ] && echo "checkpoint of $NNI_TRIAL_JOB_ID" > "$NNILIB_CHECKPOINT"
pwd > "$NNI_OUTPUT_DIR/cwd.txt"
trap 'echo "got SIGINT"; exit 130' INT
pause() { sleep "$1" & wait $!; }
case $mode in
  crash) echo "trial: error: the model exploded" >&2; exit 3 ;;
  noparam) echo "no parameters needed"; exit 0 ;;
  dropped) curl -s -X PUT --data-binary '{"type": "request_parameter"}' "$url" >/dev/null ;;
esac
receive_parameters
body=$(cat "$NNI_OUTPUT_DIR/param.json")
x=$(grep -oE '\\"x\\": [-0-9.e+]+' <<<"$body" | grep -oE '[-0-9.e+]+$')
x=${x:-0.5}
deep() { printf '[%.0s' {1..30000}; printf 0; printf ']%.0s' {1..30000}; }
case $mode in
  deepmetric) put "{\"type\": \"metric\", \"metric\": \"{\\\"parameter_id\\\": $pid, \\\"trial_job_id\\\": \\\"$NNI_TRIAL_JOB_ID\\\", \\\"type\\\": \\\"PERIODICAL\\\", \\\"sequence\\\": 0, \\\"value\\\": $(deep)}\"}"; pause 60 ;;
  deepbody) put "$(deep)"; pause 60 ;;
esac
steps=${STEPS:-3}
sleep_s=${SLEEP:-0}
budget=$(grep -oE '\\"TRIAL_BUDGET\\": [0-9.e+]+' <<<"$body" | grep -oE '[0-9.e+]+$')
if [ -n "$SLEEP_PER_BUDGET" ] && [ -n "$budget" ]; then
  from=0
  [ -n "$NNILIB_RESUME_FROM" ] && from=$(sed -n 's/^budget //p' "$NNILIB_RESUME_FROM")
  sleep_s=$(awk -v u="$SLEEP_PER_BUDGET" -v b="$budget" -v f="${from:-0}" -v n="$steps" \
    'BEGIN { printf "%.3f", u * (b - f) / n }')
fi
[ -n "$NNILIB_CHECKPOINT" ] && [ -n "$budget" ] && echo "budget $budget" >> "$NNILIB_CHECKPOINT"
for ((i = 0; i < steps; i++)); do
  pause "$sleep_s"
  metric PERIODICAL $i "$x"
  if [ -n "$PROGRESS" ]; then
    eta=$(awk -v s="$sleep_s" -v left=$((steps - i - 1)) 'BEGIN { printf "%.3f", s * left }')
    printf '{"epoch": %d, "epochs": %d, "batch": 1, "batches": 1, "images_per_second": 1, "eta_seconds": %s, "time": %d}' \
      $((i + 1)) "$steps" "$eta" "$(date +%s)" > "$NNI_OUTPUT_DIR/progress.tmp"
    mv "$NNI_OUTPUT_DIR/progress.tmp" "$NNI_OUTPUT_DIR/progress.json"
  fi
  case $mode in
    hang) trap '' INT; pause 60 ;;
    malformed) metric final 0 "$x"; pause 60 ;;
    stall) if ((i >= 1)); then pause 60; fi ;;
  esac
done
if [ -n "$GATE" ]; then
  while [ ! -e "$GATE/release-$NNI_TRIAL_SEQ_ID" ] && [ ! -e "$GATE/release-all" ]; do pause 0.05; done
fi
metric FINAL 0 "{\\\\\\\"default\\\\\\\": $x, \\\\\\\"steps\\\\\\\": $steps}"
echo "done x=$x"
)BASH";

// An experiment in a scratch directory: trial.sh, config.yml, experiment in exp/.
struct Experiment {
  TempDir dir{"runner"};
  std::string exp() const { return dir.path() + "/exp"; }
  std::string config() const { return dir.path() + "/config.yml"; }

  explicit Experiment(const std::string& config_body) {
    std::ofstream(dir.path() + "/trial.sh") << kTrialScript;
    std::filesystem::permissions(dir.path() + "/trial.sh", std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add);
    // trainingService {platform: local} unless the body has its own.
    const bool own_ts = config_body.find("trainingService:") != std::string::npos;
    std::ofstream(config()) << "trialCodeDirectory: .\n"
                            << (own_ts ? "" : "trainingService: {platform: local}\n")
                            << config_body;
  }
  std::vector<std::string> run_argv(std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv = {
        NNILIB_FMNIST_NAS,  "run", "--config",        config(), "--plain",
        "--experiment-dir", exp(), "--kill-grace-ms", "500"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  ProcessResult run(std::vector<std::string> extra = {},
                    const nnilib::standin::Environment& env = {}) const {
    return nnilib::standin::run_process(run_argv(std::move(extra)), env, 120s);
  }
  ProcessResult resume(std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv = {NNILIB_FMNIST_NAS, "resume",          exp(),
                                     "--plain",         "--kill-grace-ms", "500"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return nnilib::standin::run_process(argv, {}, 120s);
  }
  nnilib::ExperimentStore store() const {
    return nnilib::ExperimentStore::open(exp() + "/experiment.db", true);
  }
  std::string trial_file(const nnilib::TrialRecord& t, const std::string& name) const {
    return nnilib::standin::read_whole_file(exp() + "/trials/" + t.trial_id + "/" + name);
  }
};

std::string describe(const ProcessResult& r) {
  return "exit " + std::to_string(r.exit_code) + " signal " + std::to_string(r.term_signal) +
         "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

std::map<std::string, std::string> env_of(const std::string& text) {
  std::map<std::string, std::string> env;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

// Waits until `pred(trials)` holds (reading the database while the runner writes it).
bool wait_for(const Experiment& e,
              const std::function<bool(const std::vector<nnilib::TrialRecord>&)>& pred,
              std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (std::filesystem::exists(e.exp() + "/experiment.db", ec)) {
      try {
        if (pred(e.store().trials())) return true;
      } catch (const nnilib::Error&) {
        // created but not yet initialised: no schema yet (UsageError) or locked (IoError)
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

int count_status(const std::vector<nnilib::TrialRecord>& trials, const char* status) {
  int n = 0;
  for (const auto& t : trials) n += t.status == status ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("runner: curl trials all finish with NNI's environment, metrics stored, best chosen") {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: MODES="dropped ok" exec ./trial.sh
trialConcurrency: 2
maxTrialNumber: 6
tuner: {name: Random, classArgs: {optimize_mode: maximize}}
)");
  ::unsetenv("OMP_NUM_THREADS");  // the runner chooses (4 cores / 2 trials)
  ::unsetenv("MKL_NUM_THREADS");
  // Without trialGpuNumber the GPUs are left as they are (NNI's rule).
  const ProcessResult r = e.run({"--cores", "4", "--seed", "7"}, {{"CUDA_VISIBLE_DEVICES", "7"}});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("experiment directory: " + e.exp() + "\n"));
  const auto store = e.store();
  const auto experiment = store.experiment();
  CHECK(experiment.status == "DONE");
  CHECK(experiment.end_reason == "maxTrialNumber 6 reached");
  CHECK(experiment.seed == 7);
  CHECK(experiment.id.size() == 8);
  const auto trials = store.trials();
  REQUIRE(trials.size() == 6);
  std::set<std::string> ids;
  for (const auto& t : trials) {
    INFO(t.trial_id << " " << t.status << " " << t.reason);
    CHECK(t.status == nnilib::kSucceeded);
    CHECK(t.trial_id.size() == 5);
    ids.insert(t.trial_id);
    CHECK(t.exit_code == 0);
    CHECK(t.parameter_sent);
    CHECK(t.intermediate_count == 3);
    const double x = t.parameters["x"].get<double>();
    CHECK(t.final_default == Approx(x));
    CHECK((*t.final_value)["steps"] == 3);
    CHECK(t.history.size() == 3);
    const auto metrics = store.metrics(t.trial_id);
    CHECK(metrics.size() == 4);
    // NNI 3.x's environment, with cores/concurrency threads.
    auto env = env_of(e.trial_file(t, "env.txt"));
    const std::string trial_dir = e.exp() + "/trials/" + t.trial_id;
    CHECK(env["NNI_PLATFORM"] == "local");
    CHECK(env["NNI_EXP_ID"] == experiment.id);
    CHECK(env["NNI_TRIAL_JOB_ID"] == t.trial_id);
    CHECK(env["NNI_TRIAL_SEQ_ID"] == std::to_string(t.sequence));
    CHECK(env["NNI_SYS_DIR"] == trial_dir);
    CHECK(env["NNI_OUTPUT_DIR"] == trial_dir);
    CHECK(env["NNI_CODE_DIR"] == e.dir.path());
    CHECK_THAT(env["NNI_TRIAL_COMMAND_CHANNEL"],
               Catch::Matches("http://127\\.0\\.0\\.1:[0-9]+/env/local-env/" + t.trial_id +
                              "/[0-9a-f]{32}"));  // the trial's secret
    CHECK(env["CUDA_VISIBLE_DEVICES"] == "7");
    CHECK(env["OMP_NUM_THREADS"] == "2");  // 4 cores / 2 concurrent trials
    CHECK(env["MKL_NUM_THREADS"] == "2");
    CHECK(env.count("REUSE_MODE") == 0);
    CHECK(e.trial_file(t, "cwd.txt") == e.dir.path() + "\n");
    CHECK_THAT(e.trial_file(t, "trial.stdout"), Catch::Contains("done x="));
    CHECK(e.trial_file(t, "trial.stderr").empty());
  }
  CHECK(ids.size() == 6);
  // The best is the trial with the largest x (maximize), and best.json holds its parameters.
  const auto best = std::max_element(
      trials.begin(), trials.end(), [](const nnilib::TrialRecord& a, const nnilib::TrialRecord& b) {
        return a.parameters["x"].get<double>() < b.parameters["x"].get<double>();
      });
  CHECK_THAT(r.out, Catch::Contains("best: trial " + std::to_string(best->sequence) + " " +
                                    best->trial_id));
  CHECK(json::parse(nnilib::standin::read_whole_file(e.exp() + "/best.json")) == best->parameters);
  // The dropped PUT (no JSON content type) was ignored, with a warning in the log.
  CHECK_THAT(nnilib::standin::read_whole_file(e.exp() + "/runner.log"),
             Catch::Contains("Content-Type"));
  CHECK_THAT(nnilib::standin::read_whole_file(e.exp() + "/config.yml"), Catch::Contains("MODES="));
  CHECK(json::parse(nnilib::standin::read_whole_file(
            e.exp() + "/search_space.json"))["x"]["_type"] == "uniform");

  // show and export read the finished experiment.
  const ProcessResult show =
      nnilib::standin::run_process({NNILIB_FMNIST_NAS, "show", e.exp()}, {}, 30s);
  INFO(describe(show));
  CHECK(show.exit_code == 0);
  CHECK_THAT(show.out, Catch::Contains("DONE (maxTrialNumber 6 reached)") &&
                           Catch::Contains("6 SUCCEEDED") &&
                           Catch::Contains("best: trial " + std::to_string(best->sequence)));
  const ProcessResult csv = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "export", e.exp(), "--format", "csv"}, {}, 30s);
  CHECK(csv.exit_code == 0);
  CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 7);
  const ProcessResult js = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "export", e.exp(), "--format", "json", "-o", e.dir.path() + "/x.json"},
      {}, 30s);
  CHECK(js.exit_code == 0);
  const json exported = json::parse(nnilib::standin::read_whole_file(e.dir.path() + "/x.json"));
  CHECK(exported["trials"].size() == 6);
  CHECK(exported["trials"][0]["intermediate"].size() == 3);
  // Each result's arrival, in seconds after the experiment's start, in order.
  const json& at = exported["trials"][0]["intermediate_s"];
  REQUIRE(at.size() == 3);
  CHECK(at[0].get<double>() >= 0);
  CHECK(at[0].get<double>() <= at[2].get<double>());
  CHECK(exported["trials"][0]["final_s"].get<double>() >= at[2].get<double>());
  CHECK(exported["trials"][0]["final_s"].get<double>() < 600);
  CHECK(exported["best"]["trial_id"] == best->trial_id);
  // The export never overwrites the experiment's own files.
  const auto db_size = std::filesystem::file_size(e.exp() + "/experiment.db");
  const ProcessResult over = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "export", e.exp(), "--format", "json", "-o", e.exp() + "/experiment.db"},
      {}, 30s);
  CHECK(over.exit_code == 2);
  CHECK_THAT(over.err, Catch::Contains("is a file of the experiment itself"));
  CHECK(std::filesystem::file_size(e.exp() + "/experiment.db") == db_size);
  CHECK(e.store().trials().size() == 6);
  // A full disk behind a device, or behind standard output, is exit 8; the device is
  // written to, never replaced by a file.
  const ProcessResult full = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "export", e.exp(), "--format", "json", "-o", "/dev/full"}, {}, 30s);
  CHECK(full.exit_code == 8);
  CHECK(full.err ==
        "fmnist-nas: error: /dev/full: cannot write the export (No space left on "
        "device)\n");
  CHECK(std::filesystem::is_character_file("/dev/full"));
  const ProcessResult full_stdout =
      nnilib::standin::run_process({"/bin/bash", "-c",
                                    std::string("exec ") + NNILIB_FMNIST_NAS + " export " +
                                        e.exp() + " --format csv > /dev/full"},
                                   {}, 30s);
  CHECK(full_stdout.exit_code == 8);
  CHECK_THAT(full_stdout.err, Catch::Contains("standard output: cannot write the export"));
  // A pipe nobody reads: an error at once, not a wait.
  const std::string fifo = e.dir.path() + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const ProcessResult unread = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "export", e.exp(), "--format", "csv", "-o", fifo}, {}, 30s);
  CHECK(unread.exit_code == 8);
  CHECK_THAT(unread.err, Catch::Contains(fifo + ": cannot write the export"));
  CHECK(std::filesystem::is_fifo(fifo));
  // Trial ids, parameters and channel URLs are not for other users.
  CHECK((std::filesystem::status(e.exp()).permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms::owner_all);
}

TEST_CASE("runner: an experiment in which no trial succeeded ends with exit code 10") {
  Experiment e(R"(
searchSpace: {x: {_type: choice, _value: [0.1, 0.2]}}
trialCommand: MODES="crash" exec ./trial.sh
trialConcurrency: 2
maxTrialNumber: 2
tuner: {name: GridSearch}
)");
  const ProcessResult r = e.run();
  INFO(describe(r));
  CHECK(r.exit_code == 10);
  CHECK_THAT(r.out, Catch::Contains("no trial succeeded with a final result; see " + e.exp() +
                                    "/trials/<id>/trial.stderr"));
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 2);
  for (const auto& t : trials) CHECK(t.status == nnilib::kFailed);
  CHECK(e.store().experiment().status == "DONE");
}

TEST_CASE("runner: GridSearch runs every point once, then stops: the tuner is exhausted") {
  Experiment e(R"(
searchSpace:
  a: {_type: choice, _value: [1, 2, 3]}
  b: {_type: choice, _value: [x, y]}
trialCommand: STEPS=1 exec ./trial.sh
trialConcurrency: 3
maxTrialNumber: 100
tuner: {name: GridSearch}
)");
  // The user's OMP_NUM_THREADS wins over the runner's share.
  const ProcessResult r = e.run({}, {{"OMP_NUM_THREADS", "3"}});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto store = e.store();
  CHECK_THAT(store.experiment().end_reason, Catch::Contains("exhausted"));
  const auto trials = store.trials();
  REQUIRE(trials.size() == 6);
  std::set<std::string> points;
  for (const auto& t : trials) {
    CHECK(t.status == nnilib::kSucceeded);
    points.insert(t.parameters.dump());
    CHECK(env_of(e.trial_file(t, "env.txt"))["OMP_NUM_THREADS"] == "3");
  }
  CHECK(points.size() == 6);
}

TEST_CASE(
    "runner faults: crash, hang past maxTrialDuration, malformed metric, no parameter request") {
  Experiment e(R"(
searchSpace: {x: {_type: choice, _value: [0.1, 0.2, 0.3, 0.4, 0.5]}}
trialCommand: MODES="crash hang malformed noparam ok" exec ./trial.sh
trialConcurrency: 5
maxTrialNumber: 5
maxTrialDuration: 6s
tuner: {name: GridSearch}
)");
  const auto t0 = std::chrono::steady_clock::now();
  const ProcessResult r = e.run();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  // Nothing stalls: the hang is cut at 6 s (+0.5 s grace). 6 s, not less: the other
  // trials must end well inside it even under an ASan build on a loaded machine (2 s
  // did not, in scripts/test_under_load.sh).
  CHECK(seconds < 15);
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 5);
  std::map<std::int64_t, nnilib::TrialRecord> by_seq;
  for (const auto& t : trials) by_seq[t.sequence] = t;

  const auto& crash = by_seq[0];
  CHECK(crash.status == nnilib::kFailed);
  CHECK(crash.exit_code == 3);
  CHECK(crash.reason == "exit code 3: trial: error: the model exploded");
  CHECK_FALSE(crash.parameter_sent);

  const auto& hang = by_seq[1];
  CHECK(hang.status == nnilib::kEarlyStopped);
  CHECK_THAT(hang.reason, Catch::Contains("maxTrialDuration 6.0s"));
  CHECK(hang.signal == SIGKILL);  // it ignored SIGINT: killed after the grace period
  CHECK(hang.intermediate_count == 1);
  CHECK(hang.duration(0) >= 6.0);
  CHECK(hang.duration(0) < 9.0);

  const auto& malformed = by_seq[2];
  CHECK(malformed.status == nnilib::kFailed);
  CHECK_THAT(malformed.reason,
             Catch::Contains("malformed metric") && Catch::Contains("type is \"final\""));
  CHECK(malformed.intermediate_count == 1);  // the valid result before it is kept
  CHECK(malformed.exit_code == 130);         // it stopped on SIGINT
  CHECK(malformed.duration(0) < 6.0);        // failed at once, not at maxTrialDuration

  const auto& noparam = by_seq[3];
  CHECK(noparam.status == nnilib::kSucceeded);  // exit 0, as NNI
  CHECK_FALSE(noparam.parameter_sent);
  CHECK_FALSE(noparam.final_default);
  CHECK(e.trial_file(noparam, "trial.stdout") == "no parameters needed\n");

  CHECK(by_seq[4].status == nnilib::kSucceeded);
  CHECK(by_seq[4].final_default == Approx(0.5));
  // The best is the only successful trial with a result.
  CHECK(json::parse(nnilib::standin::read_whole_file(e.exp() + "/best.json")) == json{{"x", 0.5}});
  CHECK_THAT(r.out, Catch::Contains("stopping (SIGINT): ran longer than maxTrialDuration"));
}

TEST_CASE("runner: a trial's JSON nested 30,000 levels deep fails that trial, not the runner") {
  Experiment e(R"(
searchSpace: {x: {_type: choice, _value: [0.1, 0.2, 0.3]}}
trialCommand: MODES="deepmetric deepbody ok" exec ./trial.sh
trialConcurrency: 3
maxTrialNumber: 3
tuner: {name: GridSearch}
)");
  const ProcessResult r = e.run();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  std::map<std::int64_t, nnilib::TrialRecord> by_seq;
  for (const auto& t : e.store().trials()) by_seq[t.sequence] = t;
  REQUIRE(by_seq.size() == 3);
  CHECK(by_seq[0].status == nnilib::kFailed);
  CHECK_THAT(by_seq[0].reason,
             Catch::Contains("malformed metric") && Catch::Contains("nested deeper than 64"));
  CHECK(by_seq[1].status == nnilib::kFailed);
  CHECK_THAT(by_seq[1].reason, Catch::Contains("nested deeper than 64"));
  CHECK(by_seq[2].status == nnilib::kSucceeded);
  CHECK(e.store().experiment().status == "DONE");
}

TEST_CASE("runner: ASHA promotes the best of each rung, continuing its checkpoint") {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 exec ./trial.sh
trialConcurrency: 2
maxTrialNumber: 20
tuner: {name: ASHA, classArgs: {R: 9, eta: 3}}
)");
  const ProcessResult r = e.run();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 20);
  std::map<double, int> per_budget;
  auto budget = [](const nnilib::TrialRecord& t) {
    return t.parameters["TRIAL_BUDGET"].get<double>();
  };
  for (const auto& t : trials) {
    INFO(t.trial_id << " " << t.parameters.dump() << " " << t.status << " " << t.reason);
    CHECK(t.status == nnilib::kSucceeded);
    per_budget[budget(t)] += 1;
    const auto env = env_of(e.trial_file(t, "env.txt"));
    CHECK(env.at("NNILIB_CHECKPOINT") == e.exp() + "/trials/" + t.trial_id + "/checkpoint.pt");
    CHECK(env.at("NNILIB_SCHEDULE_EPOCHS") == "9");
    if (budget(t) == 1.0) {
      CHECK(env.count("NNILIB_RESUME_FROM") == 0);
      continue;
    }
    // A promotion continues the trial with the same x at the budget below.
    REQUIRE(env.count("NNILIB_RESUME_FROM") == 1);
    const nnilib::TrialRecord* parent = nullptr;
    for (const auto& o : trials)
      if (o.parameters["x"] == t.parameters["x"] && budget(o) == budget(t) / 3) parent = &o;
    REQUIRE(parent != nullptr);
    CHECK(parent->sequence < t.sequence);
    CHECK(env.at("NNILIB_RESUME_FROM") ==
          e.exp() + "/trials/" + parent->trial_id + "/checkpoint.pt");
  }
  CHECK(per_budget[1.0] >= 9);
  CHECK(per_budget[3.0] >= 2);
  CHECK(per_budget[9.0] >= 1);
}

namespace {

// "<parameter id>@<TRIAL_BUDGET>" of each trial, in creation order; every trial must
// have succeeded (its metrics echoed a string parameter id, as NNI's multi-fidelity
// tuners send them).
std::vector<std::string> ids_at_budgets(const std::vector<nnilib::TrialRecord>& trials) {
  std::vector<std::string> ids;
  for (const auto& t : trials) {
    INFO(t.trial_id << " " << t.parameter_id.dump() << " " << t.reason);
    CHECK(t.status == nnilib::kSucceeded);
    REQUIRE(t.parameter_id.is_string());
    ids.push_back(t.parameter_id.get<std::string>() + "@" + t.parameters["TRIAL_BUDGET"].dump());
  }
  return ids;
}

// Six trials of BOHB (min 1, max 3, eta 3: bracket 1 runs 3 configurations for 1, then
// the best for 3; bracket 0 runs 2 for 3) on three workers, with `class_args` added.
// The trials wait at a gate (trial.sh's GATE) and `drive` decides when each ends, so the
// order in which workers free up is the test's however loaded the machine is. Returns
// the trials and their "<id>@<budget>".
std::pair<std::vector<nnilib::TrialRecord>, std::vector<std::string>> bohb_on_three_workers(
    const std::string& class_args, const std::function<void(const Experiment&)>& drive) {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 GATE=gates exec ./trial.sh
trialConcurrency: 3
maxTrialNumber: 6
tuner: {name: BOHB, classArgs: {min_budget: 1, max_budget: 3, eta: 3)" +
               class_args + "}}\n");
  std::filesystem::create_directory(e.dir.path() + "/gates");
  ChildProcess runner(e.run_argv(), {});
  drive(e);
  std::ofstream(e.dir.path() + "/gates/release-all").put('\n');
  const ProcessResult r = runner.wait(120s);
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  auto trials = e.store().trials();
  REQUIRE(trials.size() == 6);
  auto ids = ids_at_budgets(trials);
  return {std::move(trials), std::move(ids)};
}

// Lets trial `seq` of bohb_on_three_workers end.
void release(const Experiment& e, int seq) {
  std::ofstream(e.dir.path() + "/gates/release-" + std::to_string(seq)).put('\n');
}

// Waits (up to a minute) until the experiment has created `n` trials.
void wait_for_trials(const Experiment& e, std::size_t n) {
  INFO("waiting for " << n << " trials");
  REQUIRE(wait_for(
      e, [n](const auto& trials) { return trials.size() >= n; }, 60s));
}

// Waits (up to a minute) until trial `seq` has succeeded.
void wait_for_success(const Experiment& e, std::size_t seq) {
  INFO("waiting for trial " << seq << " to succeed");
  REQUIRE(wait_for(
      e,
      [seq](const auto& trials) {
        return trials.size() > seq && trials[seq].status == nnilib::kSucceeded;
      },
      60s));
}

}  // namespace

TEST_CASE("runner: Hyperband runs NNI's brackets with NNI's string ids, echoed by the trials") {
  // R 3, eta 3: s_max 1. Bracket 0-1: 3 configurations for 1, then the best for 3;
  // bracket 0-0: 2 configurations for 3. NNI's older `advisor:` form.
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 exec ./trial.sh
trialConcurrency: 2
maxTrialNumber: 6
advisor: {name: Hyperband, classArgs: {R: 3, eta: 3, optimize_mode: maximize}}
)");
  const ProcessResult r = e.run();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 6);
  std::vector<std::string> ids = ids_at_budgets(trials);
  std::sort(ids.begin(), ids.end());
  // 0-1_0_{0,1,2} at budget 1, the best of them at 3 with its counter, 0-0_0_{3,4} at 3.
  CHECK(ids[0] == "0-0_0_3@3");
  CHECK(ids[1] == "0-0_0_4@3");
  CHECK(ids[2] == "0-1_0_0@1");
  CHECK(ids[3] == "0-1_0_1@1");
  CHECK(ids[4] == "0-1_0_2@1");
  CHECK_THAT(ids[5], Catch::Matches("0-1_1_[012]@3"));
  const auto counter = ids[5].substr(6, 1);
  double best = -1, promoted = -2;
  for (const auto& t : trials) {
    const std::string id = t.parameter_id.get<std::string>();
    if (id.rfind("0-1_0_", 0) == 0) best = std::max(best, *t.final_default);
    if (id == "0-1_0_" + counter) promoted = *t.final_default;
  }
  CHECK(promoted == best);  // the best of the round went on
}

TEST_CASE("runner: BOHB with exec_mode parallelism keeps every worker busy") {
  // Each worker that frees up while bracket 1's first round still runs (its trial 2 is
  // held until the end) starts something: bracket 0's two configurations, then the next
  // bracket, instead of waiting for the round.
  const auto [trials, ids] = bohb_on_three_workers("", [](const Experiment& e) {
    wait_for_trials(e, 3);
    release(e, 0);
    wait_for_trials(e, 4);
    release(e, 1);
    wait_for_trials(e, 5);
    release(e, 3);
    wait_for_trials(e, 6);  // all before trial 2 ends
  });
  CHECK_THAT(ids[2], Catch::Matches("1_0_2@1.0"));
  CHECK_THAT(ids[3], Catch::Matches("0_0_3@3.0"));
  CHECK_THAT(ids[4], Catch::Matches("0_0_4@3.0"));
  CHECK_THAT(ids[5], Catch::Matches("1_0_5@1.0"));
  for (int k : {3, 4, 5}) {
    INFO("trial " << k);
    CHECK(*trials[static_cast<std::size_t>(k)].created_at < *trials[2].ended_at);
  }
}

TEST_CASE(
    "runner: BOHB exec_mode serial runs one bracket at a time: free workers wait, none deadlocks") {
  // Bracket 0 waits until bracket 1 has started its last round: two workers wait meanwhile.
  const auto [trials, ids] = bohb_on_three_workers(", exec_mode: serial", [](const Experiment& e) {
    wait_for_trials(e, 3);
    release(e, 0);
    wait_for_success(e, 0);
    release(e, 1);
    wait_for_success(e, 1);
    CHECK(e.store().trials().size() == 3);  // two free workers, nothing started
    release(e, 2);
  });
  CHECK_THAT(ids[0], Catch::Matches("1_0_0@1.0"));
  CHECK_THAT(ids[2], Catch::Matches("1_0_2@1.0"));
  CHECK_THAT(ids[3], Catch::Matches("1_1_[012]@3.0"));  // only after the whole round ended
  CHECK(trials[3].created_at >=
        std::max({*trials[0].ended_at, *trials[1].ended_at, *trials[2].ended_at}) - 0.05);
  CHECK_THAT(ids[4], Catch::Matches("0_0_3@3.0"));
  CHECK_THAT(ids[5], Catch::Matches("0_0_4@3.0"));
}

TEST_CASE("runner: Medianstop stops a trial that is clearly worse than the median") {
  // Sequential trials: x = 0.8 and 0.9 succeed; 0.1 is worse than their median at
  // step 1 (start_step 1) and is stopped early. It stalls after its second result, so
  // that it ends soon only when it is stopped (an event, not a race with a clock).
  Experiment e(R"(
searchSpace: {x: {_type: choice, _value: [0.8, 0.9, 0.1]}}
trialCommand: MODES="ok ok stall" STEPS=6 exec ./trial.sh
trialConcurrency: 1
tuner: {name: GridSearch}
assessor: {name: Medianstop, classArgs: {optimize_mode: maximize, start_step: 1}}
)");
  const ProcessResult r = e.run();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 3);
  CHECK(trials[0].status == nnilib::kSucceeded);
  CHECK(trials[1].status == nnilib::kSucceeded);
  const auto& bad = trials[2];
  CHECK(bad.status == nnilib::kEarlyStopped);
  CHECK_THAT(bad.reason, Catch::Contains("Medianstop") && Catch::Contains("median"));
  CHECK(bad.intermediate_count <= 2);
  CHECK(*bad.ended_at - *bad.started_at < 50);  // stopped, not at the stall's end
  CHECK(bad.exit_code == 130);                  // the trial received SIGINT and exited on it
  CHECK_THAT(e.trial_file(bad, "trial.stdout"), Catch::Contains("got SIGINT"));
  CHECK_FALSE(bad.final_default);
}

namespace {

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

// Waits until none of `pids` runs (zombies of other parents count as gone).
bool all_gone(const std::vector<pid_t>& pids, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool any = false;
    for (pid_t p : pids) {
      std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
      std::string line;
      if (alive(p) && std::getline(stat, line) && line.find(") Z ") == std::string::npos)
        any = true;
    }
    if (!any) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace

TEST_CASE("runner: kill -9 of the runner takes compound commands and setsid grandchildren along") {
  // No exec: bash stays the trial's process and runs trial.sh as its child; the trial
  // also starts a grandchild in a session of its own.
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: (setsid sleep 300 & echo $! > "$NNI_OUTPUT_DIR/setsid.pid"; echo $$ > "$NNI_OUTPUT_DIR/shell.pid"; STEPS=100 SLEEP=0.2 ./trial.sh); echo done
trialConcurrency: 1
maxTrialNumber: 1
tuner: {name: Random}
)");
  ChildProcess runner(e.run_argv(), {});
  REQUIRE(wait_for(
      e, [](const auto& trials) { return !trials.empty() && trials[0].intermediate_count >= 1; },
      30s));
  const auto trial = e.store().trials()[0];
  const pid_t setsid_pid = std::stoi(e.trial_file(trial, "setsid.pid"));
  const pid_t shell_pid = std::stoi(e.trial_file(trial, "shell.pid"));
  REQUIRE(alive(setsid_pid));
  REQUIRE(alive(shell_pid));
  runner.send_signal(SIGKILL);
  runner.wait(10s);
  CHECK(all_gone({shell_pid, setsid_pid}, 5s));
}

TEST_CASE("runner: kill -9 mid-experiment, then resume: no finished trial is lost") {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=4 SLEEP=0.2 exec ./trial.sh
trialConcurrency: 2
maxTrialNumber: 8
tuner: {name: TPE, classArgs: {optimize_mode: maximize}}
)");
  ChildProcess runner(e.run_argv(), {});
  // Read the database while the runner writes it; kill it once trials finished
  // and others run.
  REQUIRE(wait_for(
      e,
      [](const auto& trials) {
        return count_status(trials, nnilib::kSucceeded) >= 2 &&
               count_status(trials, nnilib::kRunning) >= 1;
      },
      30s));
  // One runner per experiment: a second one is refused while the first holds it.
  const ProcessResult second = e.resume();
  CHECK(second.exit_code == 2);
  CHECK_THAT(second.err, Catch::Contains("being run by another fmnist-nas (pid " +
                                         std::to_string(runner.pid()) + ")"));
  runner.send_signal(SIGKILL);
  const ProcessResult killed = runner.wait(10s);
  CHECK(killed.term_signal == SIGKILL);
  std::this_thread::sleep_for(200ms);
  const auto before = e.store().trials();
  CHECK(e.store().experiment().status == "RUNNING");  // as the killed runner left it
  std::map<std::string, nnilib::TrialRecord> finished;
  for (const auto& t : before)
    if (t.status == nnilib::kSucceeded) finished[t.trial_id] = t;
  REQUIRE(finished.size() >= 2);

  // show works on a killed experiment and says so.
  const ProcessResult show =
      nnilib::standin::run_process({NNILIB_FMNIST_NAS, "show", e.exp()}, {}, 30s);
  CHECK(show.exit_code == 0);
  CHECK_THAT(show.out, Catch::Contains("no runner holds it"));

  const ProcessResult r = e.resume();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto store = e.store();
  const auto experiment = store.experiment();
  CHECK(experiment.status == "DONE");
  CHECK(experiment.sessions == 2);
  const auto after = store.trials();
  REQUIRE(after.size() == 8);
  int reruns = 0;
  for (const auto& t : after) {
    INFO(t.trial_id << " " << t.status << " " << t.reason);
    CHECK(t.status == nnilib::kSucceeded);
    CHECK(store.metrics(t.trial_id).size() == 5);
    auto it = finished.find(t.trial_id);
    if (it != finished.end()) {  // kept as it was
      CHECK(t.attempt == 1);
      CHECK(t.final_default == it->second.final_default);
      CHECK(t.ended_at == it->second.ended_at);
    }
    reruns += t.attempt > 1 ? 1 : 0;
  }
  CHECK(reruns >= 1);
  CHECK_THAT(r.out, Catch::Contains("interrupted trial(s) will run again"));
}

TEST_CASE("runner: Ctrl-C stops trials with SIGINT and exits 130, resume finishes the experiment") {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=20 SLEEP=0.2 exec ./trial.sh
trialConcurrency: 2
maxTrialNumber: 3
maxExperimentDuration: 1h
tuner: {name: Random}
)");
  ChildProcess runner(e.run_argv(), {});
  REQUIRE(wait_for(
      e,
      [](const auto& trials) {
        int started = 0;
        for (const auto& t : trials) started += t.intermediate_count > 0 ? 1 : 0;
        return started >= 2;
      },
      30s));
  runner.send_signal(SIGINT);
  const ProcessResult stopped = runner.wait(20s);
  INFO(describe(stopped));
  CHECK(stopped.exit_code == 130);
  CHECK_THAT(stopped.out, Catch::Contains("interrupted by SIGINT") &&
                              Catch::Contains("fmnist-nas resume " + e.exp()));
  {
    const auto store = e.store();
    CHECK(store.experiment().status == "STOPPED");
    const auto trials = store.trials();
    REQUIRE(trials.size() == 2);
    for (const auto& t : trials) {
      CHECK(t.status == nnilib::kUserCanceled);
      CHECK(t.interrupted);
      CHECK(t.exit_code == 130);  // the trial got SIGINT
      CHECK_THAT(e.trial_file(t, "trial.stdout"), Catch::Contains("got SIGINT"));
    }
  }
  const double elapsed_first = e.store().experiment().elapsed_s;
  const ProcessResult r = e.resume({"--max-trial-number", "2"});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto store = e.store();
  const auto trials = store.trials();
  REQUIRE(trials.size() == 2);
  for (const auto& t : trials) {
    CHECK(t.status == nnilib::kSucceeded);
    CHECK(t.attempt == 2);
    CHECK(t.intermediate_count == 20);
    CHECK_THAT(e.trial_file(t, "trial.stdout.1"), Catch::Contains("got SIGINT"));
  }
  CHECK(store.experiment().elapsed_s > elapsed_first + 3.0);  // counted over both sessions
}

TEST_CASE("runner: clear errors for a bad config, a taken directory, a missing experiment") {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: exec ./trial.sh
tuner: {name: SMAC}
)");
  ProcessResult r = e.run();
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err,
             Catch::StartsWith("fmnist-nas: error: " + e.config()) && Catch::Contains("nnictl"));
  // A directory that holds something is not overwritten.
  std::filesystem::create_directories(e.exp());
  std::ofstream(e.exp() + "/keep.txt") << "mine\n";
  std::ofstream(e.dir.path() + "/ok.yml")
      << "searchSpace: {x: {_type: uniform, _value: [0, 1]}}\ntrialCommand: exec ./trial.sh\n"
      << "trialCodeDirectory: .\ntuner: {name: Random}\ntrainingService: {platform: local}\n";
  r = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "run", "--config", e.dir.path() + "/ok.yml", "--experiment-dir", e.exp()},
      {}, 30s);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(e.exp() + ": already exists and is not empty"));
  std::filesystem::remove_all(e.exp());
  // A missing trialCodeDirectory is refused before anything is created.
  std::ofstream(e.dir.path() + "/nodir.yml")
      << "searchSpace: {x: {_type: uniform, _value: [0, 1]}}\ntrialCommand: exec ./trial.sh\n"
      << "trialCodeDirectory: missing\ntuner: {name: Random}\n"
      << "trainingService: {platform: local}\n";
  r = nnilib::standin::run_process({NNILIB_FMNIST_NAS, "run", "--config",
                                    e.dir.path() + "/nodir.yml", "--experiment-dir", e.exp()},
                                   {}, 30s);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("trialCodeDirectory " + e.dir.path() + "/missing"));
  CHECK_FALSE(std::filesystem::exists(e.exp()));
  // A final-training option that would only fail hours later, once the search ends, is
  // refused at once (NaN and infinity included).
  for (const char* ema : {"nan", "inf", "-2", "1e7"}) {
    INFO(ema);
    r = nnilib::standin::run_process(
        {NNILIB_FMNIST_NAS, "run", "--config", e.dir.path() + "/ok.yml", "--experiment-dir",
         e.exp(), "--final-ema-epochs", ema},
        {}, 30s);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(std::string("--final-ema-epochs: ") + ema + ": expected 0"));
    CHECK_FALSE(std::filesystem::exists(e.exp()));
  }
  r = nnilib::standin::run_process({NNILIB_FMNIST_NAS, "resume", e.dir.path() + "/nothing"}, {},
                                   30s);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("no such experiment directory"));
  r = nnilib::standin::run_process({NNILIB_FMNIST_NAS, "show", e.dir.path()}, {}, 30s);
  CHECK(r.exit_code == 2);  // as resume
  CHECK_THAT(r.err, Catch::Contains(e.dir.path() + ": not an experiment directory"));
  r = nnilib::standin::run_process({NNILIB_FMNIST_NAS, "show", e.dir.path() + "/nothing"}, {}, 30s);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("nothing: no such experiment directory"));
  // Invalid UTF-8 in a config: one line naming the place; nothing is created.
  std::ofstream(e.dir.path() + "/latin1.yml")
      << "experimentName: caf\xE9\nsearchSpace: {x: {_type: uniform, _value: [0, 1]}}\n"
      << "trialCommand: exec ./trial.sh\ntrialCodeDirectory: .\ntuner: {name: Random}\n"
      << "trainingService: {platform: local}\n";
  r = nnilib::standin::run_process({NNILIB_FMNIST_NAS, "run", "--config",
                                    e.dir.path() + "/latin1.yml", "--experiment-dir", e.exp()},
                                   {}, 30s);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("latin1.yml:1: not valid UTF-8 (byte 0xE9 at offset 19)"));
  CHECK_FALSE(std::filesystem::exists(e.exp()));
  r = nnilib::standin::run_process({NNILIB_FMNIST_NAS, "run", "--id", "NOT-OK"}, {}, 30s);
  CHECK(r.exit_code != 0);
  r = nnilib::standin::run_process({NNILIB_FMNIST_NAS, "export", e.dir.path(), "--format", "xml"},
                                   {}, 30s);
  CHECK(r.exit_code == 2);
}

namespace {

// Voluntary context switches of a process's main thread so far (each one is a wake-up
// after a sleep), from /proc.
long voluntary_switches(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(24));
  }
  return -1;
}

}  // namespace

TEST_CASE("runner: sleeps while a trial trains, and reaps it the moment it exits") {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: SLEEP=1 STEPS=3 exec ./trial.sh
trialConcurrency: 1
maxTrialNumber: 2
tuner: {name: Random}
)");
  ChildProcess runner(e.run_argv(), {});
  REQUIRE(wait_for(
      e, [](const auto& trials) { return count_status(trials, nnilib::kRunning) == 1; }, 30s));
  const long before = voluntary_switches(runner.pid());
  std::this_thread::sleep_for(2s);
  const long after = voluntary_switches(runner.pid());
  const ProcessResult r = runner.wait(60s);
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  REQUIRE(before >= 0);
  // A 5 ms poll wakes 400 times in 2 s; the runner wakes for the 1 s tick and for the
  // trial's reports (two here) only.
  CHECK(after - before < 40);
  // Each trial's exit is seen at once (SIGCHLD), not at the next tick: the second
  // trial starts within a fraction of a second of the first one's end.
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 2);
  REQUIRE(trials[0].ended_at);
  REQUIRE(trials[1].started_at);
  CHECK(*trials[1].started_at - *trials[0].ended_at < 0.5);
}

// A fake nvidia-smi: GPUs 0-2, another program's compute process on GPU 1.
const char* kFakeNvidiaSmi = R"BASH(#!/bin/bash
case "$1" in
  --query-gpu=*) printf '0, GPU-aaa, 4000, 16000, 30\n1, GPU-bbb, 15000, 16000, 97\n2, GPU-ccc, 0, 16000, 0\n' ;;
  --query-compute-apps=*) printf 'GPU-bbb, 4242\n' ;;
  *) exit 9 ;;
esac
)BASH";

namespace {

struct GpuExperiment : Experiment {
  std::string smi = dir.path() + "/nvidia-smi";
  explicit GpuExperiment(const std::string& config_body) : Experiment(config_body) {
    std::ofstream(smi) << kFakeNvidiaSmi;
    std::filesystem::permissions(smi, std::filesystem::perms::owner_all);
  }
  ProcessResult run_gpus(std::vector<std::string> extra = {}) const {
    return run(std::move(extra), {{"NNILIB_NVIDIA_SMI", smi}});
  }
};

// The largest number of trials that ran at the same time on each GPU.
std::map<std::string, int> peak_per_gpu(const GpuExperiment& e,
                                        const std::vector<nnilib::TrialRecord>& trials) {
  std::map<std::string, int> peak;
  for (const auto& t : trials) {
    const std::string gpu = env_of(e.trial_file(t, "env.txt"))["CUDA_VISIBLE_DEVICES"];
    int overlapping = 0;
    for (const auto& o : trials)
      if (env_of(e.trial_file(o, "env.txt"))["CUDA_VISIBLE_DEVICES"] == gpu &&
          *o.started_at <= *t.started_at && *t.started_at < *o.ended_at)
        ++overlapping;
    peak[gpu] = std::max(peak[gpu], overlapping);
  }
  return peak;
}

}  // namespace

TEST_CASE("runner: trialGpuNumber gives each trial its own free GPU, as NNI's local service") {
  GpuExperiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: SLEEP=0.3 exec ./trial.sh
trialConcurrency: 3
maxTrialNumber: 5
trialGpuNumber: 1
tuner: {name: Random}
trainingService: {platform: local, useActiveGpu: false}
)");
  // The final training (a stand-in fmnist-trial) gets a GPU too.
  const std::string final_trial = e.dir.path() + "/final-trial.sh";
  std::ofstream(final_trial)
      << "#!/bin/bash\nwhile [ $# -gt 0 ]; do [ \"$1\" = --output-dir ] "
         "&& out=$2; shift; done\n"
         "echo \"CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES\" > $out/env.txt\n"
         "echo '{\"test_accuracy\": 0.5}' > $out/summary.json\n";
  std::filesystem::permissions(final_trial, std::filesystem::perms::owner_all);
  const ProcessResult r =
      e.run_gpus({"--final-train", "--final-models", "1", "--trial-binary", final_trial});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  CHECK(env_of(nnilib::standin::read_whole_file(e.exp() +
                                                "/final/env.txt"))["CUDA_VISIBLE_DEVICES"] == "0");
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 5);
  for (const auto& t : trials) {
    INFO(t.trial_id);
    CHECK(t.status == nnilib::kSucceeded);
    // GPU 1 runs another program: never used.
    const std::string gpu = env_of(e.trial_file(t, "env.txt"))["CUDA_VISIBLE_DEVICES"];
    CHECK((gpu == "0" || gpu == "2"));
  }
  // Three slots, two free GPUs: one trial at a time on each, the third slot waits.
  for (const auto& [gpu, peak] : peak_per_gpu(e, trials)) {
    INFO("GPU " << gpu);
    CHECK(peak == 1);
  }
  CHECK_THAT(r.out, Catch::Contains("waiting for a free GPU"));
}

TEST_CASE("runner: maxTrialNumberPerGpu shares a GPU, gpuIndices picks it, 0 hides all GPUs") {
  GpuExperiment shared(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: SLEEP=0.3 exec ./trial.sh
trialConcurrency: 3
maxTrialNumber: 5
trialGpuNumber: 1
tuner: {name: Random}
trainingService: {platform: local, useActiveGpu: false, maxTrialNumberPerGpu: 2, gpuIndices: "2"}
)");
  const ProcessResult r = shared.run_gpus();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = shared.store().trials();
  REQUIRE(trials.size() == 5);
  const auto peak = peak_per_gpu(shared, trials);
  REQUIRE(peak.size() == 1);
  CHECK(peak.begin()->first == "2");
  CHECK(peak.begin()->second == 2);

  Experiment none(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: exec ./trial.sh
maxTrialNumber: 1
trialGpuNumber: 0
tuner: {name: Random}
)");
  const ProcessResult n = none.run({}, {{"CUDA_VISIBLE_DEVICES", "0,1"}});
  REQUIRE(n.exit_code == 0);
  const auto env = env_of(none.trial_file(none.store().trials().at(0), "env.txt"));
  CHECK(env.count("CUDA_VISIBLE_DEVICES") == 1);
  CHECK(env.at("CUDA_VISIBLE_DEVICES").empty());
}

TEST_CASE("runner: GPUs it cannot have are a config error before any trial starts") {
  const auto fails = [](const std::string& gpus, const std::string& ts,
                        const std::string& smi_override = "") {
    GpuExperiment e(
        "searchSpace: {x: {_type: uniform, _value: [0, 1]}}\n"
        "trialCommand: exec ./trial.sh\nmaxTrialNumber: 1\ntrialGpuNumber: " +
        gpus + "\ntuner: {name: Random}\ntrainingService: {platform: local, " + ts + "}\n");
    const ProcessResult r =
        e.run({}, {{"NNILIB_NVIDIA_SMI", smi_override.empty() ? e.smi : smi_override}});
    INFO(describe(r));
    CHECK(r.exit_code == 3);
    CHECK(e.store().trials().empty());
    return r.err;
  };
  CHECK_THAT(fails("2", "useActiveGpu: false, gpuIndices: [0]"),
             Catch::Contains("trialGpuNumber 2 needs 2 GPU(s) per trial; 1 can be used (GPUs "
                             "0,1,2, gpuIndices)"));
  CHECK_THAT(
      fails("1", "useActiveGpu: true, gpuIndices: [0, 5]"),
      Catch::Contains("gpuIndices names GPU 5, which nvidia-smi does not list (GPUs 0,1,2)"));
  CHECK_THAT(fails("1", "useActiveGpu: true", "/no/such/nvidia-smi"),
             Catch::Contains("trialGpuNumber 1 needs this machine's GPUs, and "
                             "/no/such/nvidia-smi: cannot run it (No such file or directory)"));
}

TEST_CASE("runner: the C++ SDK example (examples/cpp-trial) is a complete NNI trial") {
  Experiment e(std::string("searchSpace: {x: {_type: uniform, _value: [0, 1]}}\n") +
               "trialCommand: exec " + NNILIB_CPP_TRIAL_EXAMPLE +
               "\ntrialConcurrency: 2\nmaxTrialNumber: 4\n"
               "tuner: {name: TPE, classArgs: {optimize_mode: maximize}}\n");
  const ProcessResult r = e.run();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 4);
  for (const auto& t : trials) {
    INFO(t.trial_id);
    CHECK(t.status == nnilib::kSucceeded);
    CHECK(t.intermediate_count == 5);
    const double x = t.parameters["x"].get<double>();
    CHECK(*t.final_default == Approx(1.0 - (x - 0.3) * (x - 0.3) - 0.02));
    CHECK_THAT(e.trial_file(t, "trial.stdout"),
               Catch::Contains("trial " + t.trial_id + " (v3-http channel)"));
  }
  // Standalone, as a user debugs it.
  const ProcessResult alone =
      nnilib::standin::run_process({NNILIB_CPP_TRIAL_EXAMPLE, R"({"x": 0.3})"}, {}, 30s);
  CHECK(alone.exit_code == 0);
  CHECK_THAT(alone.out, Catch::Contains("(standalone channel): x = 0.3, final result 0.980000"));
  const ProcessResult bad =
      nnilib::standin::run_process({NNILIB_CPP_TRIAL_EXAMPLE, R"({"x": "high"})"}, {}, 30s);
  CHECK(bad.exit_code == 3);
  CHECK_THAT(bad.err,
             Catch::EndsWith("cpp-trial-example: error: parameter \"x\" must be a number\n"));
}

namespace {

// Runs `e` in this process with a final training that needs `reserve` seconds (no final
// training follows: the reserve is what is tested), which may take up to `max_share` of
// the limit; returns the session's result.
nnilib::RunResult run_with_reserve(const Experiment& e, double reserve, double finish_share,
                                   double max_share = 1.0) {
  nnilib::NewExperimentOptions create;
  create.experiment_dir = e.exp();
  const std::string dir =
      nnilib::create_experiment(nnilib::ExperimentConfig::load(e.config()), create);
  nnilib::RunnerOptions options;
  options.kill_grace = std::chrono::milliseconds(500);
  options.final_reserve_s = [reserve](const nnilib::TrialRecord&) { return reserve; };
  options.final_finish_share = finish_share;
  options.final_reserve_max_share = max_share;
  return nnilib::run_experiment(dir, options);
}

}  // namespace

TEST_CASE(
    "runner: at the final training's reserve a trial that ends in time finishes, one that "
    "cannot stops and still competes with its best result") {
  // 38 s in all, 30 kept for the final training: the search ends at 8 s, and half the
  // reserve lets trials end by 23 s. Trial 0 (x 0.5) ends at once: there is a candidate,
  // so the reserve holds. Trial 1 (x 0.9) would report for 200 s: it stops at the
  // search's end. Trial 2 (x 0.7) ends at about 10 s on a quiet machine, by about 18 s
  // under an ASan build on a loaded one (16 s, the window before, was too short there):
  // it finishes.
  Experiment e(R"(
searchSpace: {x: {_type: choice, _value: [0.5, 0.9, 0.7]}}
trialCommand: STEPS=$((1 + 199 * (NNI_TRIAL_SEQ_ID == 1) + 9 * (NNI_TRIAL_SEQ_ID == 2))) SLEEP=$((NNI_TRIAL_SEQ_ID > 0)) PROGRESS=1 exec ./trial.sh
trialConcurrency: 2
maxTrialNumber: 3
maxExperimentDuration: 38s
tuner: {name: GridSearch}
)");
  const nnilib::RunResult r = run_with_reserve(e, 30, 0.5);
  REQUIRE(r.trials.size() == 3);
  CHECK(r.trials[0].status == nnilib::kSucceeded);
  const auto& stopped = r.trials[1];
  const auto& finished = r.trials[2];
  INFO(stopped.reason);
  CHECK(stopped.status == nnilib::kEarlyStopped);
  CHECK_THAT(stopped.reason, Catch::StartsWith("stopped for the final training: about") &&
                                 Catch::Contains("its best result still counts"));
  CHECK(stopped.history.size() >= 4);
  CHECK(finished.status == nnilib::kSucceeded);
  CHECK(finished.history.size() == 10);
  CHECK(*finished.ended_at - *r.trials[0].started_at < 23 + 1);
  // The final training takes the stopped trial: its 0.9 beats the finished 0.7.
  const auto candidate = nnilib::final_candidate(r.trials, r.mode);
  REQUIRE(candidate);
  CHECK(candidate->trial.trial_id == stopped.trial_id);
  CHECK(candidate->partial);
  CHECK(candidate->value == 0.9);
  const std::string log = nnilib::standin::read_whole_file(e.exp() + "/runner.log");
  CHECK_THAT(log, Catch::Contains("the search ends: the last 30.0s of maxExperimentDuration 38.0s "
                                  "are kept for the final training"));
  CHECK_THAT(log, Catch::Contains("trial 2 " + finished.trial_id +
                                  " finishes before the final training (about "));
  CHECK_THAT(log, !Catch::Contains("waiting for the running trial(s) to finish"));
}

TEST_CASE(
    "runner: no trial starts that cannot end before the final training's reserve, "
    "promotions included") {
  // BOHB 1-3-9, half a second per unit of budget a trial trains (a promotion only the
  // units beyond its checkpoint). 45 s in all, 10 kept: trials must end by 36.5 s. The
  // first bracket's 9-epoch promotion (3 s more) ends at about 8 s quietly; an ASan build
  // on a loaded machine needed more than the 21.5 s window this test had before
  // (scripts/test_under_load.sh). A 9-epoch trial from scratch (4.5 s) proposed after
  // about 32 s must not start.
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 SLEEP_PER_BUDGET=0.5 exec ./trial.sh
trialConcurrency: 2
maxTrialNumber: 100
maxExperimentDuration: 45s
tuner: {name: BOHB, classArgs: {min_budget: 1, max_budget: 9, eta: 3}}
)");
  const nnilib::RunResult r = run_with_reserve(e, 10, 0.15);
  const double start = *r.trials.front().started_at;
  bool nine = false;
  for (const auto& t : r.trials) {
    INFO(t.trial_id << " " << t.parameters.dump() << " " << t.status << " " << t.reason);
    CHECK(t.status == nnilib::kSucceeded);  // none had to be stopped
    CHECK(*t.ended_at - start <= 36.5 + 1.5);
    nine = nine || t.parameters["TRIAL_BUDGET"] == 9.0;
    const auto env = env_of(e.trial_file(t, "env.txt"));
    CHECK(env.count("NNILIB_CHECKPOINT") == 1);  // BOHB's promotions continue checkpoints
    CHECK(env.at("NNILIB_SCHEDULE_EPOCHS") == "9");
  }
  CHECK(nine);
  // Whether a proposal had to be passed over depends on where the brackets stand at
  // the end; the next test makes one certain.
}

TEST_CASE("runner: the reserve never takes more than its share of the limit, and says so") {
  // A final training estimated at 100 s in a 16 s experiment (a best trial timed on a
  // busy machine, or a short limit): the reserve is half the limit, 8 s, so the search
  // runs its first half (1 s trials one at a time: several) instead of ending at once.
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 SLEEP=1 exec ./trial.sh
trialConcurrency: 1
maxTrialNumber: 100
maxExperimentDuration: 16s
tuner: {name: Random}
)");
  const nnilib::RunResult r = run_with_reserve(e, 100, 0.15, 0.5);
  CHECK(r.trials.size() >= 3);
  for (const auto& t : r.trials) CHECK(t.status == nnilib::kSucceeded);
  const std::string log = nnilib::standin::read_whole_file(e.exp() + "/runner.log");
  // The search ends at the reserve, or just before it when no proposal can end by then
  // (trials slowed by a busy machine); either end reason says what is kept, and why.
  CHECK_THAT(log, Catch::Contains("the last 8.0s of maxExperimentDuration 16.0s are kept for "
                                  "the final training (at most 50% of it: its estimate was "
                                  "1:40; it fits its epochs to the time it gets)"));
}

TEST_CASE("runner: a proposal that cannot end before the reserve is not started, and said so") {
  // 8 s trials one at a time, 30 s in all, 10 kept: trials must end by 21.5 s. The
  // third would start at about 16 s and end at 24 s: it is passed over, with a note.
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 SLEEP=8 exec ./trial.sh
trialConcurrency: 1
maxTrialNumber: 100
maxExperimentDuration: 30s
tuner: {name: Random}
)");
  const nnilib::RunResult r = run_with_reserve(e, 10, 0.15);
  REQUIRE(r.trials.size() == 2);
  for (const auto& t : r.trials) CHECK(t.status == nnilib::kSucceeded);
  const std::string log = nnilib::standin::read_whole_file(e.exp() + "/runner.log");
  CHECK_THAT(log, Catch::Contains("not started: ") && Catch::Contains("would not end by 21.5s"));
}

TEST_CASE("runner: --time-spent takes a command's own set-up off maxExperimentDuration") {
  // scripts/run.sh passes the time its setup and build took, so that the command as a
  // whole keeps the limit: the experiment records and keeps what is left.
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 exec ./trial.sh
trialConcurrency: 1
maxTrialNumber: 1
maxExperimentDuration: 1h
tuner: {name: Random}
)");
  ProcessResult r = e.run({"--time-spent", "59m"});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("maxExperimentDuration 1:00:00 less 59:00 spent before the "
                                    "run: 1:00"));
  const auto stored = nnilib::ExperimentConfig::from_json(e.store().experiment().config, e.exp());
  CHECK(stored.max_experiment_duration_s == 60);
  // Nothing left, or not a duration: a one-line usage error, and nothing is created.
  std::filesystem::remove_all(e.exp());
  r = e.run({"--time-spent", "2h"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--time-spent 2h: nothing is left of maxExperimentDuration "
                                    "1:00:00"));
  CHECK_FALSE(std::filesystem::exists(e.exp()));
  r = e.run({"--time-spent", "soon"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--time-spent: bad duration"));
  CHECK_FALSE(std::filesystem::exists(e.exp()));
}

TEST_CASE(
    "runner: enqueued configurations run first, as given, and the tuner takes their results") {
  Experiment e(R"(
searchSpace: {x: {_type: choice, _value: [1, 2, 3]}}
trialCommand: STEPS=1 exec ./trial.sh
trialConcurrency: 1
tuner: {name: GridSearch}
)");
  std::ofstream(e.dir.path() + "/two.json") << R"({"x": 2})";
  const ProcessResult r = e.run({"--enqueue", e.dir.path() + "/two.json"});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = e.store().trials();
  // x = 2 first; the grid, having its result, gives only 1 and 3, then is exhausted.
  REQUIRE(trials.size() == 3);
  CHECK(trials[0].parameters == json{{"x", 2}});
  CHECK(trials[0].parameter_id == 0);
  std::multiset<int> xs;
  for (const auto& t : trials) {
    CHECK(t.status == nnilib::kSucceeded);
    xs.insert(t.parameters["x"].get<int>());
  }
  CHECK(xs == std::multiset<int>{1, 2, 3});
  // The record the trial receives says whose configuration it is, as NNI's does.
  CHECK_THAT(e.trial_file(trials[0], "param.json"), Catch::Contains("customized"));
  CHECK_THAT(e.trial_file(trials[1], "param.json"), Catch::Contains("algorithm"));
  CHECK_THAT(r.out, Catch::Contains("1 enqueued configuration(s) are trained first, as given"));
  CHECK_THAT(nnilib::standin::read_whole_file(e.exp() + "/warm_start.json"),
             Catch::Contains(R"("enqueued")"));
}

TEST_CASE("runner: an enqueued configuration trains its own budget, not a rung to continue") {
  // ASHA continues checkpoints; an enqueued point is no rung of it: no checkpoint, no
  // schedule over R, its own TRIAL_BUDGET.
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 exec ./trial.sh
trialConcurrency: 1
maxTrialNumber: 3
tuner: {name: ASHA, classArgs: {R: 9, eta: 3}}
)");
  std::ofstream(e.dir.path() + "/point.json") << R"({"x": 0.25, "TRIAL_BUDGET": 3})";
  const ProcessResult r = e.run({"--enqueue", e.dir.path() + "/point.json"});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 3);
  CHECK(trials[0].parameters == json{{"x", 0.25}, {"TRIAL_BUDGET", 3}});
  const auto first = env_of(e.trial_file(trials[0], "env.txt"));
  CHECK(first.count("NNILIB_CHECKPOINT") == 0);
  CHECK(first.count("NNILIB_SCHEDULE_EPOCHS") == 0);
  CHECK(first.count("NNILIB_RESUME_FROM") == 0);
  for (std::size_t i = 1; i < trials.size(); ++i) {
    INFO(trials[i].parameters.dump());
    CHECK(trials[i].status == nnilib::kSucceeded);
    CHECK(env_of(e.trial_file(trials[i], "env.txt")).at("NNILIB_SCHEDULE_EPOCHS") == "9");
  }
}

TEST_CASE("runner: enqueued configurations survive a resume and are not trained twice") {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: STEPS=1 exec ./trial.sh
trialConcurrency: 1
tuner: {name: Random}
)");
  std::ofstream(e.dir.path() + "/a.json") << R"({"x": 0.125})";
  std::ofstream(e.dir.path() + "/b.json") << R"({"x": 0.375})";
  ProcessResult r = e.run(
      {"--max-trial-number", "1", "--enqueue", e.dir.path() + "/a.json", e.dir.path() + "/b.json"});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  REQUIRE(e.store().trials().size() == 1);
  // The files may go: the experiment keeps the points.
  std::filesystem::remove(e.dir.path() + "/a.json");
  std::filesystem::remove(e.dir.path() + "/b.json");
  r = e.resume({"--max-trial-number", "3"});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = e.store().trials();
  REQUIRE(trials.size() == 3);
  CHECK(trials[0].parameters == json{{"x", 0.125}});
  CHECK(trials[1].parameters == json{{"x", 0.375}});
  CHECK(trials[2].parameters != trials[0].parameters);
  CHECK(trials[2].parameters != trials[1].parameters);
  CHECK_THAT(r.out, Catch::Contains("1 enqueued configuration(s) are trained first"));
}

TEST_CASE("runner: a bad enqueued file is a one-line error naming it, and nothing is created") {
  Experiment e(R"(
searchSpace: {x: {_type: uniform, _value: [0, 1]}}
trialCommand: exec ./trial.sh
tuner: {name: BOHB}
)");
  const std::string d = e.dir.path();
  std::ofstream(d + "/outside.json") << R"({"x": 7})";
  std::ofstream(d + "/unknown.json") << R"({"x": 0.5, "y": 1})";
  std::ofstream(d + "/list.json") << R"([{"x": 0.5}])";
  std::ofstream(d + "/broken.json") << R"({"x": )";
  std::ofstream(d + "/budget.json") << R"({"x": 0.5, "TRIAL_BUDGET": -1})";
  std::filesystem::create_directory(d + "/dir.json");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing.json", "no such file"},
      {"dir.json", "is a directory"},
      {"outside.json", "not a point of the search space"},
      {"unknown.json", "not a point of the search space"},
      {"list.json", "not a JSON object of parameters"},
      {"broken.json", "not a JSON object of parameters"},
      {"budget.json", "TRIAL_BUDGET must be a number of epochs"}};
  for (const auto& [file, why] : cases) {
    const ProcessResult r = e.run({"--enqueue", d + "/" + file});
    INFO(file << "\n" << describe(r));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("fmnist-nas: error: --enqueue " + d + "/" + file + ": ") &&
                          Catch::Contains(why));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(e.exp()));
  }
}
