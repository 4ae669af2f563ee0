// The parts behind the final training's reserve and the final training itself, in
// process: how long trials take (trial_time.h), which trials compete for the final
// training, its estimate, its ensemble, the warm start's choice of results.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "nni_standin/child_process.h"
#include "nnilib/common/error.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/runner/final_training.h"
#include "nnilib/space/space.h"
#include "nnilib/trial/progress.h"
#include "nnilib/tuner/tuner_registry.h"
#include "runner/trial_time.h"
#include "runner/warm_start.h"

using nlohmann::json;
using nnilib::OptimizeMode;
using nnilib::TrialRecord;
using nnilib::standin::TempDir;

namespace {

// A finished trial: `seconds` long, with `results` intermediate results and a final one.
TrialRecord finished(const std::string& id, json params, const std::string& status,
                     std::vector<double> history, std::optional<double> final_value,
                     double seconds = 10) {
  TrialRecord t;
  t.trial_id = id;
  t.parameters = std::move(params);
  t.status = status;
  t.history = std::move(history);
  t.intermediate_count = static_cast<int>(t.history.size());
  t.final_default = final_value;
  t.started_at = 1000;
  t.ended_at = 1000 + seconds;
  return t;
}

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

// fmnist-trial's summary.json of trial `id` in experiment `dir`: one thread, the search's
// 50,000 / 10,000 split, `curve` and `test_size`.
void write_summary(const std::string& dir, const std::string& id, const json& curve,
                   int test_size) {
  write(dir + "/trials/" + id + "/summary.json", json{{"curve", curve},
                                                      {"train_size", 50000},
                                                      {"val_size", 10000},
                                                      {"threads", 1},
                                                      {"test_size", test_size}}
                                                     .dump());
}

}  // namespace

TEST_CASE("final candidates: stopped trials compete with their best intermediate result") {
  std::vector<TrialRecord> trials = {
      finished("A", {{"x", 1}, {"TRIAL_BUDGET", 9}}, nnilib::kSucceeded, {0.90, 0.92}, 0.92),
      // Stopped for the final training after 8 of 9 epochs: 0.94 beats every final.
      finished("B", {{"x", 2}, {"TRIAL_BUDGET", 9}}, nnilib::kEarlyStopped, {0.90, 0.94, 0.93},
               std::nullopt),
      // The same configuration as A at a smaller budget: A's configuration counts once.
      finished("C", {{"x", 1}, {"TRIAL_BUDGET", 3}}, nnilib::kSucceeded, {0.89}, 0.89),
      finished("D", {{"x", 3}, {"TRIAL_BUDGET", 3}}, nnilib::kSucceeded, {0.88}, 0.88),
      // Failed, or interrupted (re-run on resume): never candidates, whatever they reported.
      finished("E", {{"x", 4}}, nnilib::kFailed, {0.99}, std::nullopt),
      finished("F", {{"x", 5}}, nnilib::kUserCanceled, {0.99}, std::nullopt),
  };
  trials[5].interrupted = true;
  const auto best = nnilib::final_candidate(trials, OptimizeMode::kMaximize);
  REQUIRE(best);
  CHECK(best->trial.trial_id == "B");
  CHECK(best->partial);
  CHECK(best->value == 0.94);
  // NNI's best trial is still a finished one.
  CHECK(nnilib::best_trial(trials, OptimizeMode::kMaximize)->trial_id == "A");

  const auto three = nnilib::final_candidates(trials, OptimizeMode::kMaximize, 3);
  REQUIRE(three.size() == 3);
  CHECK(three[0].trial.trial_id == "B");
  CHECK(three[1].trial.trial_id == "A");  // C is A's configuration
  CHECK(three[2].trial.trial_id == "D");
  CHECK_FALSE(three[1].partial);

  const auto lowest = nnilib::final_candidate(trials, OptimizeMode::kMinimize);
  REQUIRE(lowest);
  CHECK(lowest->trial.trial_id == "D");
  CHECK(nnilib::final_candidates({}, OptimizeMode::kMaximize, 2).empty());
}

TEST_CASE("trial times: budgets, continued promotions, the slow tail for new configurations") {
  const json a1 = {{"x", 1}, {"TRIAL_BUDGET", 1}}, a3 = {{"x", 1}, {"TRIAL_BUDGET", 3}};
  std::vector<TrialRecord> trials = {
      finished("A1", a1, nnilib::kSucceeded, {0.8}, 0.8, 10),    // 10 s per epoch
      finished("A3", a3, nnilib::kSucceeded, {0.85}, 0.85, 20),  // continued: 2 epochs, 10 s each
      finished("B1", {{"x", 2}, {"TRIAL_BUDGET", 1}}, nnilib::kSucceeded, {0.7}, 0.7, 40),
  };
  CHECK(nnilib::trial_budget(a3) == 3);
  CHECK(nnilib::trial_budget(json{{"x", 1}}) == 0);
  CHECK(nnilib::configuration_of(a3) == json{{"x", 1}});
  REQUIRE(nnilib::predecessor_of(trials[1], trials) == &trials[0]);
  CHECK(nnilib::predecessor_of(trials[0], trials) == nullptr);

  const nnilib::TrialTimes continued(trials, true);
  CHECK(continued.count() == 3);
  CHECK(*continued.configuration_rate(trials[0]) == Approx(10));
  // A's promotion to 9 trains 6 more epochs at A's 10 s each.
  TrialRecord a9;
  a9.trial_id = "A9";
  a9.parameters = {{"x", 1}, {"TRIAL_BUDGET", 9}};
  CHECK(*continued.expected_seconds(a9) == Approx(60));
  // A new configuration may be a slow one: the 90th percentile of 10, 10 and 40 s/epoch.
  TrialRecord c3;
  c3.trial_id = "C3";
  c3.parameters = {{"x", 3}, {"TRIAL_BUDGET", 3}};
  CHECK(*continued.expected_seconds(c3) == Approx(120));
  // Without continued checkpoints every trial trains its whole budget.
  const nnilib::TrialTimes restarted(trials, false);
  CHECK(*restarted.configuration_rate(trials[0]) == Approx(10));  // the slowest of A's
  CHECK(*restarted.expected_seconds(a9) == Approx(90));
  CHECK_FALSE(nnilib::TrialTimes({}, true).expected_seconds(c3));

  // A running trial: its fresh progress file, else what it is expected to take.
  TempDir dir("times");
  TrialRecord running = a9;
  running.status = nnilib::kRunning;
  running.started_at = 2000;
  CHECK(*nnilib::seconds_left(running, dir.path(), continued, 2015) == Approx(45));
  nnilib::TrialProgress p;
  p.epoch = 8;
  p.epochs = 9;
  p.batch = 10;
  p.batches = 100;
  p.eta_seconds = 20;
  p.time = 2014;
  nnilib::write_trial_progress(dir.path(), p);
  CHECK(*nnilib::seconds_left(running, dir.path(), continued, 2015) == Approx(20 * 1.15 + 2 - 1));
  // Stale (the trial stopped writing it): ignored.
  CHECK(*nnilib::seconds_left(running, dir.path(), continued, 2100) == Approx(0));
  // The last batch done: about to end.
  p.eta_seconds = 0;
  p.batch = 100;
  p.epoch = 9;
  nnilib::write_trial_progress(dir.path(), p);
  CHECK(*nnilib::seconds_left(running, dir.path(), continued, 2015) == Approx(1));
}

TEST_CASE("final training: its parameters, threads per model, and the estimate from speed") {
  CHECK(nnilib::final_training_parameters({{"x", 1}, {"TRIAL_BUDGET", 0.333}}, 30) ==
        json{{"x", 1}, {"epochs", 30}});
  CHECK(nnilib::final_training_parameters({{"x", 1}, {"TRIAL_BUDGET", 2.5}}, 0) ==
        json{{"x", 1}, {"epochs", 3}});
  nnilib::FinalTrainingOptions o;
  o.extra_args = {"--threads", "4"};  // each model's
  o.models = 2;
  CHECK(nnilib::final_training_threads(o) == 4);
  o.extra_args = {};
  o.models = 1;
  CHECK(nnilib::final_training_threads(o) == nnilib::available_cores());
  o.models = 64;
  CHECK(nnilib::final_training_threads(o) == 1);

  // The trial's fastest epoch (a busy machine only slows one down): 500 images/s on one
  // thread; 30 epochs of 60,000 images on 2 threads at 1 + 0.6 x (2 - 1) = 1.6 x; a test
  // of 10,000 images three times (flip) at the evaluation's 1,000 images/s x 1.6.
  TempDir dir("estimate");
  const json curve = json::array({{{"images_per_second", 200}, {"eval_images_per_second", 900}},
                                  {{"images_per_second", 500}, {"eval_images_per_second", 1000}}});
  write_summary(dir.path(), "T1", curve, /*test_size=*/10000);
  TrialRecord t = finished("T1", {{"augment_flip", true}, {"TRIAL_BUDGET", 9}}, nnilib::kSucceeded,
                           {0.9}, 0.9, 100);
  o.extra_args = {};
  o.models = 1;
  o.epochs = 30;
  setenv("OMP_NUM_THREADS", "2", 1);
  nnilib::FinalTrainingEstimate estimate(o, dir.path());
  const double speedup = 1 + nnilib::FinalTrainingEstimate::kThreadEfficiency;  // 2 threads
  CHECK(estimate(t) == Approx(30 * 60000 / (500 * speedup) + 30000 / (1000 * speedup) +
                              nnilib::FinalTrainingEstimate::kStartSeconds));
  // Two models side by side: each on one thread, the trial's own speed.
  o.models = 2;
  nnilib::FinalTrainingEstimate two(o, dir.path());
  CHECK(two(t) ==
        Approx(30 * 60000 / 500.0 + 30000 / 1000.0 + nnilib::FinalTrainingEstimate::kStartSeconds));
  unsetenv("OMP_NUM_THREADS");
  // No summary (not fmnist-trial): its wall time per reported result, per epoch.
  TrialRecord other = finished("T2", {{"x", 1}}, nnilib::kSucceeded, {0.5, 0.6}, 0.6, 100);
  CHECK(two(other) == Approx(50.0 * 30));
  // A running trial is no candidate.
  other.status = nnilib::kRunning;
  other.trial_id = "T3";
  CHECK(two(other) == 0);

  // An epoch that had half of its core (another process took the rest) counts at twice
  // its speed; a share above 1 (spinning threads) counts as 1, one below 0.25 as 0.25.
  const json busy = json::array({{{"images_per_second", 300}, {"cpu_share", 0.5}},
                                 {{"images_per_second", 500}, {"cpu_share", 1.0}},
                                 {{"images_per_second", 400}, {"cpu_share", 1.3}},
                                 {{"images_per_second", 100}, {"cpu_share", 0.01}}});
  write_summary(dir.path(), "T4", busy, /*test_size=*/0);
  TrialRecord loaded = finished("T4", {{"TRIAL_BUDGET", 9}}, nnilib::kSucceeded, {0.9}, 0.9, 100);
  CHECK(two(loaded) == Approx(30 * 60000 / 600.0 + nnilib::FinalTrainingEstimate::kStartSeconds));
}

TEST_CASE("final training: an ensemble averages the models' class probabilities") {
  TempDir dir("ensemble");
  // Three images of labels 0, 1, 1. Model a: right, right, wrong; model b: wrong, right,
  // right, less sure where it is wrong: together all three right.
  const auto file = [&](const std::string& name, const json& probabilities, const json& labels) {
    const std::string path = dir.path() + "/" + name;
    write(path, json{{"test", {{"labels", labels}, {"probabilities", probabilities}}}}.dump());
    return path;
  };
  const std::string a = file("a.json", {{0.9, 0.1}, {0.2, 0.8}, {0.6, 0.4}}, {0, 1, 1});
  const std::string b = file("b.json", {{0.4, 0.6}, {0.3, 0.7}, {0.1, 0.9}}, {0, 1, 1});
  CHECK(nnilib::ensemble_accuracy({a}, "test") == Approx(2.0 / 3));
  CHECK(nnilib::ensemble_accuracy({b}, "test") == Approx(2.0 / 3));
  CHECK(nnilib::ensemble_accuracy({a, b}, "test") == Approx(1.0));
  const std::string other = file("c.json", {{0.5, 0.5}, {0.5, 0.5}, {0.5, 0.5}}, {1, 1, 1});
  CHECK_THROWS_WITH(nnilib::ensemble_accuracy({a, other}, "test"),
                    Catch::Contains("c.json: the labels differ"));
  CHECK_THROWS_WITH(nnilib::ensemble_accuracy({a}, "validation"),
                    Catch::Contains("a.json: no validation predictions"));
  CHECK_THROWS_WITH(nnilib::ensemble_accuracy({dir.path() + "/none.json"}, "test"),
                    Catch::Contains("none.json: cannot read the predictions"));
  write(dir.path() + "/bad.json", R"({"test": {"labels": [0], "probabilities": [[1, "x"]]}})");
  CHECK_THROWS_WITH(nnilib::ensemble_accuracy({dir.path() + "/bad.json"}, "test"),
                    Catch::Contains("bad.json: damaged test predictions"));
}

TEST_CASE("warm start: a tuner without budgets takes only full trainings' results") {
  const nnilib::SearchSpace space = nnilib::SearchSpace::parse(
      nlohmann::ordered_json::parse(R"({"x": {"_type": "uniform", "_value": [0, 1]}})"));
  nnilib::WarmStart warm;
  warm.sources = {"/earlier"};
  warm.trials = {{{{"x", 0.1}, {"TRIAL_BUDGET", 1}}, 0.5},
                 {{{"x", 0.2}, {"TRIAL_BUDGET", 9}}, 0.9},
                 {{{"x", 0.3}}, 0.7}};
  warm.source_max_budget = {9, 9, 0};
  const auto bohb = nnilib::make_tuner("BOHB", {{"min_budget", 1}, {"max_budget", 9}}, space, 0);
  CHECK(nnilib::warm_start_for(*bohb, warm).size() == 3);
  const auto tpe = nnilib::make_tuner("TPE", json::object(), space, 0);
  const auto full = nnilib::warm_start_for(*tpe, warm);
  REQUIRE(full.size() == 2);
  CHECK(full[0].parameters == json{{"x", 0.2}});  // without TRIAL_BUDGET
  CHECK(full[1].parameters == json{{"x", 0.3}});

  TempDir dir("warm");
  const std::string path = dir.path() + "/warm_start.json";
  nnilib::save_warm_start(path, warm);
  const nnilib::WarmStart back = nnilib::load_warm_start(path);
  CHECK(back.sources == warm.sources);
  REQUIRE(back.trials.size() == 3);
  CHECK(back.trials[1].parameters == warm.trials[1].parameters);
  CHECK(back.source_max_budget == warm.source_max_budget);
  CHECK(nnilib::load_warm_start(dir.path() + "/none.json").trials.empty());
  write(path, "{\"sources\": 3}");
  CHECK_THROWS_WITH(nnilib::load_warm_start(path), Catch::Contains("damaged warm-start file"));
  CHECK_THROWS_WITH(nnilib::read_warm_start({dir.path() + "/nothing"}, space),
                    Catch::Contains("nothing: no such experiment directory"));
}
