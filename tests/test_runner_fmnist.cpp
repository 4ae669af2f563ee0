// fmnist-nas with the real fmnist-trial on a tiny real subset of Fashion-MNIST
// (512 training, 256 validation and 256 test images, one epoch): every trial
// finishes, its per-epoch and final metrics are in the database, the best one is
// chosen, and --final-train runs the standalone trial on the best parameters.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nni_standin/child_process.h"
#include "nni_standin/metric_files.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/final_training.h"
#include "nnilib/trial/progress.h"
#include "test_util.h"

using nlohmann::json;
using namespace std::chrono_literals;
using nnilib::standin::ProcessResult;
using nnilib::standin::TempDir;

namespace {

std::string describe(const ProcessResult& r) {
  return "exit " + std::to_string(r.exit_code) + " signal " + std::to_string(r.term_signal) +
         "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

// A tiny real experiment in `dir`: ASHA (R 3, eta 3: 1 and 3 epochs) over the learning
// rate of a small seed CNN, one 1-thread trial at a time on 512 images, plus `limits`.
void write_asha_experiment(const std::string& dir, const std::string& limits) {
  const std::string subset = "--data-dir " + testutil::data_dir() +
                             " --train-size 512 --val-size 256 --test-size 256 --threads 1";
  std::ofstream(dir + "/search_space.json") << R"({
    "filter_size_c1": {"_type": "choice", "_value": [32]},
    "filter_size_c2": {"_type": "choice", "_value": [32]},
    "learning_rate": {"_type": "uniform", "_value": [0.001, 0.003]}
  })";
  std::ofstream(dir + "/config.yml")
      << "searchSpaceFile: search_space.json\n"
      << "trialCommand: exec " << NNILIB_FMNIST_TRIAL << " " << subset << "\n"
      << "trialCodeDirectory: .\ntrialConcurrency: 1\n"
      << limits << "tuner: {name: ASHA, classArgs: {R: 3, eta: 3}}\n"
      << "trainingService: {platform: local}\n";
}

}  // namespace

TEST_CASE(
    "runner with the real fmnist-trial: tiny subset, two trials, best chosen, final training") {
  TempDir dir("runner-fmnist");
  const std::string subset =
      "--data-dir " + testutil::data_dir() + " --train-size 512 --val-size 256 --test-size 256";
  std::ofstream(dir.path() + "/search_space.json") << R"({
    "filter_size_c1": {"_type": "choice", "_value": [32]},
    "filter_size_c2": {"_type": "choice", "_value": [32]},
    "nb_units": {"_type": "choice", "_value": [80, 120]},
    "learning_rate": {"_type": "choice", "_value": [0.002]},
    "augment_flip": {"_type": "choice", "_value": [true]}
  })";
  std::ofstream(dir.path() + "/config.yml")
      << "searchSpaceFile: search_space.json\n"
      << "trialCommand: exec " << NNILIB_FMNIST_TRIAL << " " << subset
      << " --params '{\"epochs\":1}'\n"  // no ": " in a plain YAML scalar
      << "trialCodeDirectory: .\ntrialConcurrency: 2\nmaxTrialNumber: 4\n"
      << "tuner: {name: GridSearch}\n"
      << "trainingService: {platform: local}\n";
  const std::string exp = dir.path() + "/exp";
  const ProcessResult r = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "run", "--config", dir.path() + "/config.yml", "--plain",
       "--experiment-dir", exp, "--cores", "2", "--final-train", "--trial-binary",
       NNILIB_FMNIST_TRIAL, "--final-arg=--data-dir=" + testutil::data_dir(),
       "--final-arg=--train-size=512", "--final-arg=--test-size=256",
       "--final-arg=--params={\"epochs\": 1}", "--final-ema-epochs", "0.5"},
      {{"OMP_NUM_THREADS", ""}}, 300s);  // empty counts as unset: the runner decides
  INFO(describe(r));
  const auto store = nnilib::ExperimentStore::open(exp + "/experiment.db", true);
  const auto trials = store.trials();
  REQUIRE(trials.size() == 2);  // the grid has two points
  for (const auto& t : trials) {
    INFO(t.trial_id << " " << t.status << " " << t.reason);
    CHECK(t.status == nnilib::kSucceeded);
    CHECK(t.intermediate_count == 1);  // one epoch
    REQUIRE(t.final_value);
    for (const char* key : {"default", "test_accuracy", "params", "macs", "seconds"})
      CHECK((*t.final_value).at(key).is_number());
    CHECK(*t.final_default > 0.3);  // it learns, even on 512 images
    const std::string trial_dir = exp + "/trials/" + t.trial_id;
    CHECK(std::filesystem::exists(trial_dir + "/summary.json"));  // NNI_OUTPUT_DIR
    // Where it was inside its epoch, last written at the epoch's last batch.
    const auto progress = nnilib::read_trial_progress(trial_dir);
    REQUIRE(progress);
    CHECK(progress->epoch == 1);
    CHECK(progress->epochs == 1);
    CHECK(progress->batch == progress->batches);
    CHECK(progress->images_per_second > 0);
    // 2 cores shared by 2 concurrent trials: one thread each.
    CHECK(
        json::parse(nnilib::standin::read_whole_file(trial_dir + "/summary.json")).at("threads") ==
        1);
  }
  const auto& best = trials[0].final_default > trials[1].final_default ? trials[0] : trials[1];
  CHECK(json::parse(nnilib::standin::read_whole_file(exp + "/best.json")) == best.parameters);
  CHECK_THAT(r.out,
             Catch::Contains("best: trial " + std::to_string(best.sequence) + " " + best.trial_id));
  // --final-train: the best configuration twice (seeds 1 and 2: an ensemble), standalone
  // with --val-size 0 into <exp>/final and <exp>/final/m2, side by side.
  for (const std::string& d : {exp + "/final", exp + "/final/m2"}) {
    INFO(d);
    CHECK(json::parse(nnilib::standin::read_whole_file(d + "/params.json"))["nb_units"] ==
          best.parameters["nb_units"]);
    CHECK_THAT(r.out, Catch::Contains("--params-file '" + d + "/params.json' --val-size 0") &&
                          Catch::Contains("--output-dir '" + d + "' --progress --predictions '" +
                                          d + "/predictions.json' --export-onnx '" + d +
                                          "/model.onnx' --threads 1 --seed"));
  }
  REQUIRE(r.exit_code == 0);
  // Each final model also as ONNX (tests/test_deploy.cpp checks what such a file computes).
  for (const std::string& d : {exp + "/final", exp + "/final/m2"})
    CHECK(std::filesystem::file_size(d + "/model.onnx") > 1000);
  // --final-tta auto: the configuration trained on mirrored images, so its test uses
  // flip test-time augmentation and says what it added.
  CHECK_THAT(r.out, Catch::Contains("--seed 1 --tta flip --ema-epochs 0.5") &&
                        Catch::Contains("--seed 2 --tta flip --ema-epochs 0.5"));
  CHECK_THAT(r.out,
             Catch::Contains("flip test-time augmentation") &&
                 Catch::Contains("final training: test accuracy") &&
                 Catch::Contains("(ensemble of 2 models: their averaged class probabilities"));
  const json summary = json::parse(nnilib::standin::read_whole_file(exp + "/final/summary.json"));
  CHECK(summary.at("test_accuracy").is_number());
  CHECK(summary["test_time_augmentation"] == "flip");
  CHECK(summary.at("test_accuracy_without_tta").is_number());
  // --final-ema-epochs: each model saves and tests its averaged weights, and says what the
  // last weights scored.
  CHECK(summary["weight_average"]["ema_epochs"] == 0.5);
  CHECK(summary.at("test_accuracy_without_ema").is_number());
  CHECK_THAT(r.out, Catch::Contains("without weight averaging"));
  const json second = json::parse(nnilib::standin::read_whole_file(exp + "/final/m2/summary.json"));
  CHECK(second["curve"][0]["train_loss"] != summary["curve"][0]["train_loss"]);  // another seed
  const json ensemble = json::parse(nnilib::standin::read_whole_file(exp + "/final/ensemble.json"));
  REQUIRE(ensemble["models"].size() == 2);
  CHECK(ensemble["models"][0]["test_accuracy"] == summary["test_accuracy"]);
  CHECK(ensemble["models"][1]["seed"] == 2);
  CHECK(ensemble["models"][1]["test_accuracy_without_ema"].is_number());
  CHECK(ensemble["test_accuracy"] ==
        nnilib::ensemble_accuracy(
            {exp + "/final/predictions.json", exp + "/final/m2/predictions.json"}, "test"));

  // The dashboard's data (here through the HTML report) shows the final model.
  const std::string html = exp + "/report.html";
  const ProcessResult report =
      nnilib::standin::run_process({NNILIB_FMNIST_NAS, "report", exp, "--html", html}, {}, 60s);
  REQUIRE(report.exit_code == 0);
  const std::string page = nnilib::standin::read_whole_file(html);
  const std::string marker = "window.NNILIB_REPORT = ";
  const auto at = page.find(marker);
  REQUIRE(at != std::string::npos);
  const auto end = page.find(";</script>", at);
  const json data = json::parse(page.substr(at + marker.size(), end - at - marker.size()));
  const json fin = data["snapshots"][store.experiment().id]["final_training"];
  INFO(fin.dump());
  CHECK(fin["state"] == "done");
  CHECK(fin["epochs"] == 1);
  CHECK(fin["models"] == 2);
  CHECK(fin["test_accuracy"] == ensemble["test_accuracy"]);
  CHECK(fin["test_time_augmentation"] == "flip");
  CHECK(fin["progress"].is_null());
}

TEST_CASE("runner with the real fmnist-trial: ASHA's promotion continues the checkpoint") {
  TempDir dir("runner-asha");
  write_asha_experiment(dir.path(), "maxTrialNumber: 4\n");
  const std::string exp = dir.path() + "/exp";
  const ProcessResult r =
      nnilib::standin::run_process({NNILIB_FMNIST_NAS, "run", "--config",
                                    dir.path() + "/config.yml", "--plain", "--experiment-dir", exp},
                                   {}, 300s);
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = nnilib::ExperimentStore::open(exp + "/experiment.db", true).trials();
  REQUIRE(trials.size() == 4);
  // One trial at a time: three configurations for 1 epoch, then the best goes on to 3.
  const nnilib::TrialRecord* best1 = nullptr;
  for (int i = 0; i < 3; ++i) {
    INFO(trials[i].reason);
    REQUIRE(trials[i].status == nnilib::kSucceeded);
    CHECK(trials[i].parameters["TRIAL_BUDGET"] == 1.0);
    if (best1 == nullptr || *trials[i].final_default > *best1->final_default) best1 = &trials[i];
  }
  const auto& up = trials[3];
  INFO(up.reason);
  REQUIRE(up.status == nnilib::kSucceeded);
  CHECK(up.parameters["TRIAL_BUDGET"] == 3.0);
  CHECK(up.parameters["learning_rate"] == best1->parameters["learning_rate"]);
  CHECK(up.intermediate_count == 2);  // epochs 2 and 3: the first came from the checkpoint
  const json summary = json::parse(
      nnilib::standin::read_whole_file(exp + "/trials/" + up.trial_id + "/summary.json"));
  CHECK(summary["resumed_epochs"] == 1);
  CHECK(summary["curve"].size() == 3);
  const json parent = json::parse(
      nnilib::standin::read_whole_file(exp + "/trials/" + best1->trial_id + "/summary.json"));
  CHECK(summary["curve"][0]["val_accuracy"] == parent["curve"][0]["val_accuracy"]);
}

TEST_CASE("runner with the real fmnist-trial: --final-train keeps its time inside the budget") {
  TempDir dir("runner-final");
  // ASHA's TRIAL_BUDGET is the search's business: the final training gets epochs instead.
  write_asha_experiment(dir.path(), "maxTrialNumber: 50\nmaxExperimentDuration: 45s\n");
  const std::string exp = dir.path() + "/exp";
  const auto t0 = std::chrono::steady_clock::now();
  const ProcessResult r = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "run", "--config", dir.path() + "/config.yml", "--plain",
       "--experiment-dir", exp, "--final-train", "--final-epochs", "2", "--trial-binary",
       NNILIB_FMNIST_TRIAL, "--final-arg=--data-dir=" + testutil::data_dir(),
       "--final-arg=--train-size=512", "--final-arg=--test-size=256"},
      {}, 300s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  // The estimate (the trial's fastest epoch, 2 epochs of the whole training set) is kept
  // free at the end of the 45 s: the search stops before, the final models fit their
  // epochs to what is left, and search plus final training fit.
  CHECK_THAT(r.out, Catch::Contains("are kept for the final training"));
  CHECK(seconds < 45 + 5);
  const json params = json::parse(nnilib::standin::read_whole_file(exp + "/final/params.json"));
  CHECK_FALSE(params.contains("TRIAL_BUDGET"));
  CHECK(params["epochs"] == 60);  // --final-max-epochs: the most that may fit
  CHECK_THAT(r.out, Catch::Contains("--time-limit "));
  const json summary = json::parse(nnilib::standin::read_whole_file(exp + "/final/summary.json"));
  INFO(summary.dump());
  CHECK(summary["time_limit"]["trained_epochs"].get<double>() >= 1);
  CHECK(summary["curve"].size() == summary["time_limit"]["trained_epochs"].get<std::size_t>());
  CHECK(summary.at("test_accuracy").is_number());
  // No augment_flip in this space: --final-tta auto tests without augmentation.
  CHECK(summary["test_time_augmentation"] == "none");
  CHECK_FALSE(summary.contains("test_accuracy_without_tta"));
  CHECK_THAT(r.out, !Catch::Contains("--tta"));
}

TEST_CASE(
    "runner with the real fmnist-trial: BOHB's promotion from a third of an epoch continues "
    "it in the same precision, as the straight run") {
  // BOHB 1/3 -> 1 epoch (eta 3): three configurations for a third of an epoch (3 of the 8
  // batches of 512 images), then the best for the whole epoch, from its checkpoint.
  TempDir dir("runner-bohb");
  const std::string subset = "--data-dir " + testutil::data_dir() +
                             " --train-size 512 --val-size 256 --test-size 256 --threads 1";
  std::ofstream(dir.path() + "/search_space.json") << R"({
    "filter_size_c1": {"_type": "choice", "_value": [32]},
    "filter_size_c2": {"_type": "choice", "_value": [32]},
    "learning_rate": {"_type": "uniform", "_value": [0.001, 0.003]},
    "augment_flip": {"_type": "choice", "_value": [true]}
  })";
  std::ofstream(dir.path() + "/config.yml")
      << "searchSpaceFile: search_space.json\n"
      << "trialCommand: exec " << NNILIB_FMNIST_TRIAL << " " << subset << "\n"
      << "trialCodeDirectory: .\ntrialConcurrency: 1\nmaxTrialNumber: 4\n"
      << "tuner: {name: BOHB, classArgs: {min_budget: 0.3333333, max_budget: 1, eta: 3}}\n"
      << "trainingService: {platform: local}\n";
  const std::string exp = dir.path() + "/exp";
  const ProcessResult r =
      nnilib::standin::run_process({NNILIB_FMNIST_NAS, "run", "--config",
                                    dir.path() + "/config.yml", "--plain", "--experiment-dir", exp},
                                   {}, 300s);
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  const auto trials = nnilib::ExperimentStore::open(exp + "/experiment.db", true).trials();
  REQUIRE(trials.size() == 4);
  const auto summary_of = [&](const nnilib::TrialRecord& t) {
    return json::parse(
        nnilib::standin::read_whole_file(exp + "/trials/" + t.trial_id + "/summary.json"));
  };
  const nnilib::TrialRecord* best = nullptr;
  for (int i = 0; i < 3; ++i) {
    INFO(trials[i].reason);
    REQUIRE(trials[i].status == nnilib::kSucceeded);
    CHECK(trials[i].parameters["TRIAL_BUDGET"].get<double>() == Approx(1.0 / 3).epsilon(1e-6));
    CHECK(summary_of(trials[i])["epochs_trained"] == Approx(3.0 / 8));
    if (best == nullptr || *trials[i].final_default > *best->final_default) best = &trials[i];
  }
  const auto& up = trials[3];
  INFO(up.reason);
  REQUIRE(up.status == nnilib::kSucceeded);
  CHECK(up.parameters["TRIAL_BUDGET"] == 1.0);
  CHECK(up.parameters["learning_rate"] == best->parameters["learning_rate"]);
  const json summary = summary_of(up);
  const json parent = summary_of(*best);
  CHECK(summary["precision"] == parent["precision"]);
  CHECK(summary["precision_reason"] == "auto: as the checkpoint it continues");
  REQUIRE(summary["curve"].size() == 2);  // the parent's third, then the whole epoch
  CHECK(summary["curve"][0] == parent["curve"][0]);
  CHECK(summary["epochs_trained"] == 1.0);

  // The same configuration trained straight through the epoch, standalone, in the same
  // precision: the same figures.
  json straight_params = up.parameters;
  straight_params.erase("TRIAL_BUDGET");
  straight_params["epochs"] = 1;
  const std::string straight = dir.path() + "/straight.json";
  const std::vector<std::string> argv = {NNILIB_FMNIST_TRIAL,
                                         "--params",
                                         straight_params.dump(),
                                         "--schedule-epochs",
                                         "1",
                                         "--precision",
                                         parent["precision"].get<std::string>(),
                                         "--no-save",
                                         "--quiet",
                                         "--output",
                                         straight,
                                         "--data-dir",
                                         testutil::data_dir(),
                                         "--train-size",
                                         "512",
                                         "--val-size",
                                         "256",
                                         "--test-size",
                                         "256",
                                         "--threads",
                                         "1"};
  const ProcessResult s = nnilib::standin::run_process(argv, {}, 120s);
  INFO(describe(s));
  REQUIRE(s.exit_code == 0);
  const json one = json::parse(nnilib::standin::read_whole_file(straight));
  CHECK(one["curve"][0]["train_loss"] == summary["curve"][1]["train_loss"]);
  CHECK(one["curve"][0]["val_accuracy"] == summary["curve"][1]["val_accuracy"]);
  CHECK(one["test_accuracy"] == summary["test_accuracy"]);
}
