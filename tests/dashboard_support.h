// Shared by the dashboard's tests (test_dashboard, test_dashboard_final): an experiment
// of bash+curl trials run by a real fmnist-nas, and the HTTP helpers that watch it.
#pragma once

#include <catch2/catch.hpp>

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "nni_standin/child_process.h"
#include "nnilib/runner/experiment_store.h"

namespace dashboard_test {

using nlohmann::json;
using nnilib::standin::ChildProcess;
using nnilib::standin::TempDir;
using namespace std::chrono_literals;

// A trial that reports STEPS dict results ({"default": x, "val_loss": 0.<step>}), SLEEP
// seconds apart, then a FINAL dict with test_accuracy and params; x from its sequence.
inline const std::string kTrialScript = "#!/bin/bash\nsource '" NNILIB_SOURCE_DIR
                                        "/tests/curl_trial.sh'\n"
                                        R"BASH(
trap 'echo "got SIGINT"; exit 130' INT
receive_parameters
x="0.$((80 + NNI_TRIAL_SEQ_ID))"
echo "trial $NNI_TRIAL_JOB_ID starts"
echo "a warning on stderr" >&2
for ((i = 0; i < ${STEPS:-3}; i++)); do
  sleep "${SLEEP:-0}" & wait $!
  metric PERIODICAL $i "{\\\\\\\"default\\\\\\\": $x, \\\\\\\"val_loss\\\\\\\": 0.$i}"
done
metric FINAL 0 "{\\\\\\\"default\\\\\\\": $x, \\\\\\\"test_accuracy\\\\\\\": $x, \\\\\\\"params\\\\\\\": 1234}"
echo "done x=$x"
)BASH";

// An experiment directory made by fmnist-nas run in a scratch directory.
struct Experiment {
  TempDir dir{"dashboard"};
  std::string exp() const { return dir.path() + "/exp"; }

  // `space`: the searchSpace lines of config.yml (the trial script ignores them).
  Experiment(int trials, int concurrency, const std::string& env,
             const std::string& space =
                 "  lr: {_type: uniform, _value: [0.001, 0.1]}\n"
                 "  model: {_type: choice, _value: [{_name: a, k: {_type: choice, _value: [3, "
                 "5]}}, {_name: b}]}\n") {
    std::ofstream(dir.path() + "/trial.sh") << kTrialScript;
    std::filesystem::permissions(dir.path() + "/trial.sh", std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add);
    std::ofstream(dir.path() + "/config.yml")
        << "experimentName: dashboard-test\n"
        << "searchSpace:\n"
        << space << "trialCommand: " << env << " exec ./trial.sh\n"
        << "trialCodeDirectory: .\ntrialConcurrency: " << concurrency << "\n"
        << "maxTrialNumber: " << trials << "\nmaxExperimentDuration: 1h\n"
        << "tuner: {name: TPE, classArgs: {optimize_mode: maximize}}\n"
        << "assessor: {name: Medianstop, classArgs: {optimize_mode: maximize, start_step: 50}}\n"
        << "trainingService: {platform: local}\n";
  }
  std::vector<std::string> run_argv(std::vector<std::string> extra) const {
    std::vector<std::string> argv = {NNILIB_FMNIST_NAS,
                                     "run",
                                     "--config",
                                     dir.path() + "/config.yml",
                                     "--plain",
                                     "--experiment-dir",
                                     exp(),
                                     "--kill-grace-ms",
                                     "500"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  nnilib::ExperimentStore store() const {
    return nnilib::ExperimentStore::open(exp() + "/experiment.db", true);
  }
};

// The dashboard address a fmnist-nas process printed ("dashboard: http://...:port/" and,
// on a run, "?control=<key>"): its port and its control key.
inline std::pair<int, std::string> wait_for_address(const ChildProcess& p) {
  const std::regex line(R"(dashboard: http://127\.0\.0\.1:(\d+)/(\?control=([0-9a-f]{32}))?)");
  for (int i = 0; i < 300; ++i) {
    std::smatch m;
    const std::string out = p.stdout_so_far();
    if (std::regex_search(out, m, line)) return {std::stoi(m[1]), m[3]};
    std::this_thread::sleep_for(20ms);
  }
  FAIL("no dashboard address printed; stdout: " << p.stdout_so_far()
                                                << " stderr: " << p.stderr_so_far());
  return {0, ""};
}

inline int wait_for_port(const ChildProcess& p) { return wait_for_address(p).first; }

inline nlohmann::json get_json(httplib::Client& c, const std::string& path, int status = 200) {
  auto r = c.Get(path.c_str());
  REQUIRE(r);
  INFO(path << " -> " << r->status << " " << r->body);
  REQUIRE(r->status == status);
  return json::parse(r->body);
}

inline httplib::Result post(httplib::Client& c, const std::string& path, const std::string& body,
                            const char* type = "application/json") {
  return c.Post(path.c_str(), body, type);
}

inline bool eventually(const std::function<bool()>& f, std::chrono::seconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace dashboard_test
