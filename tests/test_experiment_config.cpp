// NNI v2 experiment config (config.yml): fields, defaults, durations, paths and errors.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "nnilib/common/error.h"
#include "nnilib/runner/experiment_config.h"
#include "test_util.h"

using nnilib::ExperimentConfig;
namespace fs = std::filesystem;

namespace {

const char* kSpace = R"({"lr": {"_type": "loguniform", "_value": [0.0001, 0.1]},
                         "nb_units": {"_type": "choice", "_value": [80, 100, 120]}})";

// The config of shared/nni-protocol.md.
const char* kProtocolConfig = R"(experimentName: fashion-mnist-nas
searchSpaceFile: search_space.json
trialCommand: exec ./build/fmnist-trial      # simple command or exec
trialCodeDirectory: .
trialConcurrency: 1
maxTrialNumber: 10
tuner:
  name: TPE            # Random, GridSearch, Anneal, Evolution, Hyperband, BOHB, ...
  classArgs:
    optimize_mode: maximize
assessor:              # optional early stopping on intermediate results
  name: Medianstop
  classArgs:
    optimize_mode: maximize
    start_step: 3
trainingService:
  platform: local      # remote, kubeflow, ... scale the same trial out
)";

// A minimal valid config (inline space) plus `extra` lines at the top level.
std::string minimal(const std::string& extra = "") {
  return "searchSpace:\n  x: {_type: uniform, _value: [0, 1]}\ntrialCommand: ./t\n"
         "tuner: {name: Random}\ntrainingService: {platform: local}\n" +
         extra;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string parse_error(const std::string& yaml) {
  return testutil::error_of([&] { ExperimentConfig::parse(yaml, "config.yml"); });
}

}  // namespace

TEST_CASE("experiment config: the config of nni-protocol.md") {
  const fs::path dir = fs::path(testutil::temp_dir()) / "protocol";
  write(dir / "search_space.json", kSpace);
  write(dir / "config.yml", kProtocolConfig);
  const ExperimentConfig c = ExperimentConfig::load((dir / "config.yml").string());
  CHECK(c.experiment_name == "fashion-mnist-nas");
  CHECK(c.search_space_file == (dir / "search_space.json").string());
  CHECK(c.search_space.dimensions().size() == 2);
  CHECK(c.search_space.dimensions()[0].name == "lr");  // file order kept
  CHECK(c.trial_command == "exec ./build/fmnist-trial");
  CHECK(c.trial_code_directory == dir.string());
  CHECK(c.trial_concurrency == 1);
  CHECK(c.max_trial_number == 10);
  CHECK_FALSE(c.max_experiment_duration_s);
  CHECK_FALSE(c.max_trial_duration_s);
  CHECK(c.tuner.name == "TPE");
  CHECK(c.tuner.class_args == nlohmann::json{{"optimize_mode", "maximize"}});
  REQUIRE(c.assessor);
  CHECK(c.assessor->name == "Medianstop");
  CHECK(c.assessor->class_args == nlohmann::json{{"optimize_mode", "maximize"}, {"start_step", 3}});
  const char* home = std::getenv("HOME");
  CHECK(c.experiment_working_directory ==
        (fs::path(home ? home : "") / "nni-experiments").string());
  CHECK(c.log_level == "info");
  CHECK_FALSE(c.debug);
}

TEST_CASE("experiment config: relative paths resolve against the config's directory") {
  const fs::path dir = fs::path(testutil::temp_dir()) / "paths" / "exp";
  write(dir / "spaces" / "space.json", kSpace);
  write(dir / "config.yml",
        "searchSpaceFile: spaces/space.json\ntrialCommand: exec ./trial\n"
        "trialCodeDirectory: ../code\nexperimentWorkingDirectory: runs\n"
        "tuner: {name: GridSearch}\ntrainingService: {platform: local}\n");
  const ExperimentConfig c = ExperimentConfig::load((dir / "config.yml").string());
  CHECK(c.search_space_file == (dir / "spaces" / "space.json").string());
  CHECK(c.trial_code_directory == (dir.parent_path() / "code").string());
  CHECK(c.experiment_working_directory == (dir / "runs").string());
  CHECK(c.trial_concurrency == 1);  // default
  // Absolute paths stay; "~" is the home directory.
  write(dir / "abs.yml", "searchSpaceFile: " + (dir / "spaces" / "space.json").string() +
                             "\ntrialCommand: t\ntrialCodeDirectory: /opt/code\n"
                             "experimentWorkingDirectory: ~/exps\ntuner: {name: TPE}\n"
                             "trainingService: {platform: local}\n");
  const ExperimentConfig a = ExperimentConfig::load((dir / "abs.yml").string());
  CHECK(a.trial_code_directory == "/opt/code");
  const char* home = std::getenv("HOME");
  CHECK(a.experiment_working_directory == (fs::path(home ? home : "") / "exps").string());
  // A YAML search-space file.
  write(dir / "space.yaml", "lr: {_type: loguniform, _value: [0.001, 0.1]}\n");
  write(dir / "yspace.yml",
        "searchSpaceFile: space.yaml\ntrialCommand: t\ntuner: {name: TPE}\n"
        "trainingService: {platform: local}\n");
  CHECK(ExperimentConfig::load((dir / "yspace.yml").string()).search_space.dimensions()[0].name ==
        "lr");
  // A missing space file names the field and the file.
  write(dir / "missing.yml",
        "searchSpaceFile: nope.json\ntrialCommand: t\ntuner: {name: TPE}\n"
        "trainingService: {platform: local}\n");
  const std::string e =
      testutil::error_of([&] { ExperimentConfig::load((dir / "missing.yml").string()); });
  CHECK(e.find("searchSpaceFile") != std::string::npos);
  CHECK(e.find("nope.json") != std::string::npos);
  // A directory where a file belongs is named as one, not read as an empty file.
  fs::create_directories(dir / "cfgdir");
  const std::string cfg = (dir / "cfgdir").string();
  CHECK(testutil::error_of([&] { ExperimentConfig::load(cfg); }) ==
        cfg + ": \"" + cfg + "\" is a directory, not a file");
  fs::create_directories(dir / "space.yml");
  write(dir / "dirspace.yml",
        "searchSpaceFile: space.yml\ntrialCommand: t\ntuner: {name: TPE}\n"
        "trainingService: {platform: local}\n");
  CHECK_THAT(testutil::error_of([&] { ExperimentConfig::load((dir / "dirspace.yml").string()); }),
             Catch::Contains("searchSpaceFile") &&
                 Catch::Contains("space.yml\" is a directory, not a file"));
}

TEST_CASE("experiment config: every supported field, NNI's spellings and harmless keys") {
  const ExperimentConfig c = ExperimentConfig::parse(R"(
experiment_name: demo          # NNI also takes snake_case
searchSpace:
  b: {_type: choice, _value: [1, 2]}
  a: {_type: quniform, _value: [1, 10, 1e0]}
trialCommand: exec ./trial
trialConcurrency: 4
maxTrialNumber: 50
maxExperimentDuration: 2h
maxTrialDuration: 90
trialGpuNumber: 0
useAnnotation: false
debug: true
nniManagerIp: 127.0.0.1
experimentType: hpo
tuner:
  name: Evolution
  classArgs: {optimize_mode: minimize, population_size: 8}
assessor: {name: Medianstop, classArgs: {optimize_mode: Minimize}}
trainingService:
  platform: local
  trialCommand: exec ./other     # the training service's own value wins
  useActiveGpu: false
  maxTrialNumberPerGpu: 1
  trialGpuNumber: 0
  reuseMode: false
)",
                                                     "/cfg/config.yml");
  CHECK(c.experiment_name == "demo");
  CHECK(c.search_space.dimensions()[0].name == "b");  // inline order kept
  CHECK(c.search_space.dimensions()[1].q == 1);
  CHECK(c.trial_command == "exec ./other");
  CHECK(c.trial_code_directory == "/cfg");
  CHECK(c.trial_concurrency == 4);
  CHECK(c.max_trial_number == 50);
  CHECK(c.max_experiment_duration_s == 7200);
  CHECK(c.max_trial_duration_s == 90);
  CHECK(c.debug);
  CHECK(c.log_level == "debug");
  CHECK(c.tuner.class_args ==
        nlohmann::json{{"optimize_mode", "minimize"}, {"population_size", 8}});
  CHECK(c.assessor->class_args == nlohmann::json{{"optimize_mode", "Minimize"}});
}

TEST_CASE("experiment config: a tuner and an assessor that optimize opposite ways are refused") {
  const std::string head = R"(
searchSpace: {a: {_type: choice, _value: [1, 2]}}
trialCommand: exec ./trial
trainingService: {platform: local}
)";
  // Explicit on both sides.
  CHECK_THROWS_WITH(
      ExperimentConfig::parse(head + R"(
tuner: {name: Evolution, classArgs: {optimize_mode: minimize}}
assessor: {name: Medianstop, classArgs: {optimize_mode: maximize}}
)",
                              "/cfg/config.yml"),
      "/cfg/config.yml: tuner Evolution would minimize but assessor Medianstop would maximize; "
      "give both the same classArgs.optimize_mode");
  // NNI's TPE minimizes by default; Medianstop maximizes by default.
  CHECK_THROWS_WITH(ExperimentConfig::parse(head + R"(
tuner: {name: TPE}
assessor: {name: Medianstop}
)",
                                            "/cfg/config.yml"),
                    Catch::Contains("tuner TPE would minimize (its default) but assessor "
                                    "Medianstop would maximize"));
  // Case does not count; Random has no direction of its own and takes the assessor's.
  const ExperimentConfig same = ExperimentConfig::parse(head + R"(
tuner: {name: TPE, classArgs: {optimize_mode: MAXIMIZE}}
assessor: {name: Medianstop, classArgs: {optimize_mode: maximize}}
)",
                                                        "/cfg/config.yml");
  CHECK(nnilib::optimize_mode_of(same) == nnilib::OptimizeMode::kMaximize);
  const ExperimentConfig random = ExperimentConfig::parse(head + R"(
tuner: {name: Random}
assessor: {name: Medianstop, classArgs: {optimize_mode: minimize}}
)",
                                                          "/cfg/config.yml");
  CHECK(nnilib::optimize_mode_of(random) == nnilib::OptimizeMode::kMinimize);
}

TEST_CASE("experiment config: durations like NNI (d, h, m, s - rounded up to seconds)") {
  using nnilib::parse_duration;
  CHECK(parse_duration("2h") == 7200);
  CHECK(parse_duration("30m") == 1800);
  CHECK(parse_duration("90s") == 90);
  CHECK(parse_duration("1d") == 86400);
  CHECK(parse_duration("1.5h") == 5400);
  CHECK(parse_duration("0.5s") == 1);
  CHECK(parse_duration("2H") == 7200);
  for (const char* bad : {"2", "h", "", "-1h", "0m", "2x", "2 hours", "1e400s", "ms"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_duration(bad), nnilib::ParamError);
  }
  CHECK(testutil::error_of([] { parse_duration("5w"); }) ==
        "bad duration \"5w\": expected a positive number and a unit, one of d, h, m, s (e.g. "
        "\"2h\")");
  CHECK(ExperimentConfig::parse(minimal("maxExperimentDuration: 45m\n"), "c.yml")
            .max_experiment_duration_s == 2700);
  CHECK(ExperimentConfig::parse(minimal("maxTrialDuration: 1.5\n"), "c.yml").max_trial_duration_s ==
        2);
  CHECK(
      parse_error(minimal("maxExperimentDuration: 2 weeks\n")) ==
      "config.yml: maxExperimentDuration must be a duration like \"90s\", \"30m\", \"2h\", \"1d\" "
      "or a number of seconds > 0, got \"2 weeks\"");
  // Found by fuzz_config: a number of seconds beyond any integer was cast (UB).
  CHECK(parse_error(minimal("maxTrialDuration: 9111111111111111111111111111111111111111111\n"))
            .find("maxTrialDuration must be a duration") != std::string::npos);
  CHECK(parse_error(minimal("maxExperimentDuration: .inf\n"))
            .find("maxExperimentDuration must be a duration") != std::string::npos);
  CHECK(parse_error(minimal("maxTrialDuration: 0\n")).find("maxTrialDuration must be a duration") !=
        std::string::npos);
}

TEST_CASE("experiment config: wrong types and values name the field") {
  CHECK(parse_error(minimal("trialConcurrency: two\n")) ==
        "config.yml: trialConcurrency must be a positive integer, got \"two\"");
  CHECK(parse_error(minimal("trialConcurrency: 0\n")) ==
        "config.yml: trialConcurrency must be a positive integer, got 0");
  CHECK(parse_error(minimal("trialConcurrency: 2.5\n")) ==
        "config.yml: trialConcurrency must be a positive integer, got 2.5");
  CHECK(parse_error(minimal("trialConcurrency: \"2\"\n")) ==
        "config.yml: trialConcurrency must be a positive integer, got \"2\"");
  CHECK(parse_error(minimal("maxTrialNumber: [1]\n")) ==
        "config.yml: maxTrialNumber must be a positive integer, got a list");
  CHECK(parse_error(minimal("debug: maybe\n")) ==
        "config.yml: debug must be true or false, got \"maybe\"");
  CHECK(parse_error(minimal("logLevel: verbose\n")) ==
        "config.yml: logLevel must be one of fatal, error, warning, info, debug, trace, got "
        "\"verbose\"");
  CHECK(parse_error(minimal("experimentName: {a: 1}\n")) ==
        "config.yml: experimentName must be a string, got a mapping");
  CHECK(parse_error(minimal("trialGpuNumber: -1\n")) ==
        "config.yml: trialGpuNumber must be an integer >= 0, got -1");
  // Tuner and assessor problems come from their factories, prefixed with the file.
  CHECK(parse_error("searchSpace: {x: {_type: uniform, _value: [0, 1]}}\ntrialCommand: t\n"
                    "tuner: {name: TPE, classArgs: {optimize_mode: up}}\n"
                    "trainingService: {platform: local}\n") ==
        "config.yml: tuner TPE: classArgs.optimize_mode must be one of maximize, minimize, got "
        "\"up\"");
  CHECK(parse_error(minimal("assessor: {name: Medianstop, classArgs: {start_step: x}}\n")) ==
        "config.yml: assessor Medianstop: classArgs.start_step must be an integer in [0, 9999], "
        "got \"x\"");
  CHECK(parse_error("searchSpace: {x: {_type: uniform, _value: [0, 1]}}\ntrialCommand: t\n"
                    "tuner: {name: Anneal}\ntrainingService: {platform: local}\n")
            .find("config.yml: tuner \"Anneal\": an NNI tuner that is not embedded here") == 0);
  CHECK(parse_error(minimal("assessor: {classArgs: {}}\n")) ==
        "config.yml: assessor.name is required");
  CHECK(parse_error(minimal("assessor: {name: Medianstop, classArgs: [1]}\n")) ==
        "config.yml: assessor.classArgs must be a mapping, got a list");
  // The search space itself.
  CHECK(parse_error("searchSpace: {x: {_type: uniform, _value: [1, 0]}}\ntrialCommand: t\n"
                    "tuner: {name: TPE}\ntrainingService: {platform: local}\n")
            .find("config.yml: searchSpace: search space \"x\"") == 0);
}

TEST_CASE("experiment config: unknown fields, missing fields and conflicts") {
  CHECK(parse_error(minimal("trialConcurency: 2\n")) ==
        "config.yml: unknown field \"trialConcurency\"; did you mean \"trialConcurrency\"? (NNI "
        "rejects unknown fields too)");
  CHECK(parse_error(minimal("colour: red\n")) ==
        "config.yml: unknown field \"colour\" (NNI rejects unknown fields too)");
  CHECK(parse_error(minimal("tuner: {name: TPE, classArg: {}}\n")).find("is given twice") !=
        std::string::npos);
  CHECK(parse_error("searchSpace: {x: {_type: uniform, _value: [0, 1]}}\ntrialCommand: t\n"
                    "tuner: {name: TPE, classArg: {}}\ntrainingService: {platform: local}\n") ==
        "config.yml: unknown field \"tuner.classArg\"; did you mean \"classArgs\"? (NNI rejects "
        "unknown fields too)");
  CHECK(parse_error(minimal("trial_concurrency: 2\ntrialConcurrency: 3\n")) ==
        "config.yml: trialConcurrency is given twice (as \"trial_concurrency\" and "
        "\"trialConcurrency\")");
  CHECK(parse_error(minimal("searchSpaceFile: s.json\n")) ==
        "config.yml: give searchSpaceFile or searchSpace, not both");
  CHECK(parse_error("trialCommand: t\ntuner: {name: TPE}\ntrainingService: {platform: local}\n") ==
        "config.yml: searchSpaceFile (or an inline searchSpace) is required");
  CHECK(parse_error("searchSpace: {}\ntuner: {name: TPE}\ntrainingService: {platform: local}\n") ==
        "config.yml: trialCommand is required (the command that runs one trial)");
  CHECK(parse_error("searchSpace: {}\ntrialCommand: t\ntrainingService: {platform: local}\n") ==
        "config.yml: tuner is required (embedded tuners: TPE, Random, GridSearch, Evolution, "
        "Hyperband, BOHB, ASHA)");
  CHECK(parse_error("searchSpace: {}\ntrialCommand: t\ntuner: {name: TPE}\n") ==
        "config.yml: trainingService is required (trainingService: {platform: local})");
  CHECK(parse_error("") == "config.yml: the config is empty");
  CHECK(parse_error("- a\n- b\n") == "config.yml: must be a YAML mapping of fields, got a list");
  CHECK(parse_error("a: [1, 2\n").find("config.yml:2:1: invalid YAML") == 0);
}

TEST_CASE("experiment config: options of NNI that the embedded runner refuses point to nnictl") {
  const std::string remote = parse_error(
      "searchSpace: {}\ntrialCommand: t\ntuner: {name: TPE}\n"
      "trainingService:\n  platform: remote\n  machineList:\n    - host: 10.0.0.1\n");
  CHECK(remote ==
        "config.yml: trainingService.platform \"remote\" is not supported by the embedded runner "
        "(it runs trials on this machine only: platform local); run this experiment with NNI's "
        "nnictl instead");
  CHECK(parse_error(minimal("sharedStorage: {storageType: NFS}\n")) ==
        "config.yml: sharedStorage: shared storage is not supported by the embedded runner; run "
        "this experiment with NNI's nnictl instead");
  CHECK(parse_error(minimal("useAnnotation: true\n")).find("useAnnotation: NNI annotation") !=
        std::string::npos);
  // NNI's `advisor:` form names the tuner (Hyperband); with a tuner or assessor too it is
  // ambiguous, as in NNI.
  CHECK(parse_error(minimal("advisor: {name: Hyperband}\n")) ==
        "config.yml: advisor is set together with tuner: give one of them (an advisor replaces "
        "the tuner and the assessor)");
  CHECK(ExperimentConfig::parse("searchSpace: {x: {_type: uniform, _value: [0, 1]}}\n"
                                "trialCommand: ./t\ntrainingService: {platform: local}\n"
                                "advisor: {name: Hyperband, classArgs: {R: 9, eta: 3}}\n",
                                "config.yml")
            .tuner.name == "Hyperband");
  CHECK_THAT(parse_error("searchSpace: {x: {_type: uniform, _value: [0, 1]}}\n"
                         "trialCommand: ./t\ntrainingService: {platform: local}\n"
                         "advisor: {name: SMAC}\n"),
             Catch::Contains("an NNI tuner that is not embedded here (run it with nnictl)"));
  CHECK(parse_error(minimal("tunerGpuIndices: 0\n")).find("nnictl") != std::string::npos);
  CHECK(parse_error(minimal("experimentType: nas\n")).find("experiment type \"nas\"") !=
        std::string::npos);
  CHECK(parse_error("searchSpace: {}\ntrialCommand: t\ntuner: {name: TPE}\n"
                    "trainingService: [{platform: local}, {platform: remote}]\n")
            .find("hybrid mode") != std::string::npos);
  CHECK(parse_error(minimal("tuner: {name: TPE}\n")).find("given twice") != std::string::npos);
  CHECK(parse_error("searchSpace: {}\ntrialCommand: t\ntuner: {name: X, className: my.Tuner}\n"
                    "trainingService: {platform: local}\n")
            .find("tuner.className: a custom (Python) algorithm is not supported") == 12);
  CHECK(
      parse_error("searchSpace: {}\ntrialCommand: t\ntuner: {name: TPE}\n"
                  "trainingService: {platform: local, machineList: []}\n") ==
      "config.yml: unknown field \"trainingService.machineList\" (NNI rejects unknown fields too)");
}

TEST_CASE("the shipped configs load: the default search, nnictl's and the seed's experiment") {
  const std::string root = NNILIB_SOURCE_DIR;
  const ExperimentConfig main = ExperimentConfig::load(root + "/config.yml");
  CHECK(main.trial_concurrency == 2);
  CHECK(main.max_experiment_duration_s == 7200);
  CHECK(main.tuner.name == "BOHB");
  CHECK(!main.assessor.has_value());
  CHECK(main.search_space.grid_size().to_string() == "infinite");
  // The same space for nnictl, with NNI's TPE and Medianstop.
  const ExperimentConfig nnictl = ExperimentConfig::load(root + "/examples/nnictl/config.yml");
  CHECK(nnictl.tuner.name == "TPE");
  CHECK(nnictl.assessor.has_value());
  CHECK(nnictl.trial_code_directory == root);
  CHECK(nnictl.search_space_file == root + "/search_space.json");
  const ExperimentConfig seed = ExperimentConfig::load(root + "/examples/seed/config.yml");
  CHECK(seed.max_trial_number == 10);
  CHECK(seed.search_space.grid_size().to_string() == "infinite");  // learning_rate is uniform
  CHECK(seed.trial_code_directory == root + "/examples/seed");
}

TEST_CASE("experiment config: YAML alias bombs and deep nesting are refused, in little memory") {
  // "Billion laughs": 9 levels of 10 aliases each would expand to 10^9 nodes.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k) bomb += ", " + prev;
    bomb += "]\n";
  }
  CHECK_THAT(parse_error(minimal(bomb)),
             Catch::StartsWith("config.yml:") &&
                 Catch::Contains("the YAML document expands to more than 100000 nodes"));
  // An alias used a few times is fine (and expands as YAML says).
  const ExperimentConfig ok = ExperimentConfig::parse(
      "searchSpace:\n  x: &u {_type: uniform, _value: [0, 1]}\n  y: *u\ntrialCommand: ./t\n"
      "tuner: {name: Random}\ntrainingService: {platform: local}\n",
      "config.yml");
  CHECK(ok.search_space.dimensions().size() == 2);
  // yaml-cpp decodes the escape \N (U+0085) to the lone byte 0x85, not UTF-8 (found by
  // fuzz_config; it then threw from the JSON printer).
  CHECK_THAT(parse_error(minimal("experimentName: \"a\\Nb\"\n")),
             Catch::StartsWith("config.yml:6:") &&
                 Catch::Contains("a string that is not valid UTF-8 (byte 0x85)"));
  // Deep flow nesting: one line, no stack overflow (yaml-cpp alone stops at 2000 levels).
  CHECK_THAT(parse_error(minimal("x: " + std::string(100, '[') + std::string(100, ']') + "\n")),
             Catch::Contains("nested deeper than 64 levels"));
  CHECK_THAT(parse_error(minimal("x: " + std::string(100000, '[') + "\n")),
             Catch::StartsWith("config.yml:6:") && Catch::Contains("nested deeper than 64"));
  // Depth reached through an alias counts too.
  std::string chain = "a0: &a0 [1]\n";
  for (int i = 1; i <= 70; ++i)
    chain += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) +
             "]\n";
  CHECK_THAT(parse_error(minimal(chain)), Catch::Contains("nested deeper than 64 levels"));
}

TEST_CASE("experiment config: GPUs as NNI's local training service takes them") {
  const auto gpus = [](const std::string& ts) {
    return ExperimentConfig::parse(
        "searchSpace: {x: {_type: uniform, _value: [0, 1]}}\ntrialCommand: ./t\n"
        "tuner: {name: Random}\ntrialGpuNumber: 1\ntrainingService: {platform: local, " +
            ts + "}\n",
        "config.yml");
  };
  // Not given: trials see the GPUs as they are; 0 hides them.
  CHECK(!ExperimentConfig::parse(minimal(), "config.yml").trial_gpu_number);
  CHECK(ExperimentConfig::parse(minimal("trialGpuNumber: 0\n"), "config.yml").trial_gpu_number ==
        0);
  const ExperimentConfig c =
      gpus("useActiveGpu: false, maxTrialNumberPerGpu: 2, gpuIndices: [3, 1, 3]");
  CHECK(c.trial_gpu_number == 1);
  CHECK(c.max_trial_number_per_gpu == 2);
  CHECK(!c.use_active_gpu);
  CHECK(c.gpu_indices == std::vector<int>{1, 3});  // sorted, once each
  CHECK(gpus("useActiveGpu: true, gpuIndices: 2").gpu_indices == std::vector<int>{2});
  CHECK(gpus("useActiveGpu: true, gpuIndices: \"0, 2\"").gpu_indices == std::vector<int>{0, 2});
  CHECK(gpus("useActiveGpu: true, trialGpuNumber: 2").trial_gpu_number == 2);  // its own wins
  // Stored and read back; experiments stored before GPUs were scheduled still load.
  const ExperimentConfig back = ExperimentConfig::from_json(c.to_json(), "stored");
  CHECK(back.trial_gpu_number == 1);
  CHECK(back.gpu_indices == std::vector<int>{1, 3});
  CHECK(back.max_trial_number_per_gpu == 2);
  auto old = c.to_json();
  for (const char* k : {"trialGpuNumber", "gpuIndices", "maxTrialNumberPerGpu", "useActiveGpu"})
    old.erase(k);
  const ExperimentConfig before = ExperimentConfig::from_json(old, "stored");
  CHECK(!before.trial_gpu_number);
  CHECK(before.gpu_indices.empty());
  CHECK(before.max_trial_number_per_gpu == 1);
  auto bad = c.to_json();
  bad["gpuIndices"] = {"x"};
  CHECK_THROWS_WITH(ExperimentConfig::from_json(bad, "stored"),
                    "stored: stored gpuIndices holds something other than GPU indices");

  // As NNI: useActiveGpu must be said when trials use GPUs.
  CHECK(parse_error(minimal("trialGpuNumber: 1\n")) ==
        "config.yml: trainingService.useActiveGpu is required with trialGpuNumber > 0 (as in "
        "NNI): true to share GPUs with other programs (a desktop), false to wait for idle ones");
  const std::string rule = "must be GPU indices: a list of integers >= 0, one, or \"0,1\", got ";
  for (const std::string bad_indices : {"[-1]", "\"0,x\"", "[[0]]", "{a: 1}", "\"\"", "[]"}) {
    INFO(bad_indices);
    CHECK_THAT(parse_error("searchSpace: {}\ntrialCommand: t\ntuner: {name: TPE}\n"
                           "trainingService: {platform: local, gpuIndices: " +
                           bad_indices + "}\n"),
               Catch::StartsWith("config.yml: trainingService.gpuIndices " + rule));
  }
  CHECK(parse_error(minimal("trialGpuNumber: 1.5\n")) ==
        "config.yml: trialGpuNumber must be an integer >= 0, got 1.5");
}
