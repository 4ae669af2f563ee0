// The real fmnist-trial executable, run as a child process the way NNI runs it, on a
// small real subset of Fashion-MNIST: every NNI channel, ids echoed, TRIAL_BUDGET,
// faults, signals, and the standalone command line's errors.
#include <signal.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include "nni_standin/child_process.h"
#include "nni_standin/metric_files.h"
#include "nni_standin/standin.h"
#include "nnilib/trial/protocol.h"
#include "test_util.h"

using nlohmann::json;
using namespace nnilib::standin;
using namespace std::chrono_literals;

namespace {

// A small real subset: 2 epochs of 400 images take about a second.
std::vector<std::string> trial_argv(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {NNILIB_FMNIST_TRIAL,
                                   "--data-dir",
                                   testutil::data_dir(),
                                   "--train-size",
                                   "400",
                                   "--val-size",
                                   "200",
                                   "--test-size",
                                   "200",
                                   "--threads",
                                   "1",
                                   "--nni-retries",
                                   "2",
                                   "--nni-backoff-ms",
                                   "100"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

nnilib::ParameterRecord record(json id, json params) {
  nnilib::ParameterRecord r;
  r.parameter_id = std::move(id);
  r.parameter_source = "algorithm";
  r.parameters = std::move(params);
  r.parameter_index = 0;
  return r;
}

const json kSmallArch = {{"filter_size_c1", 32}, {"filter_size_c2", 32}, {"kernel_size_c1", 3},
                         {"kernel_size_c2", 5},  {"nb_units", 80},       {"learning_rate", 0.002},
                         {"epochs", 2}};

// Checks one trial's metrics as NNI would: PERIODICAL 0..n-1, then exactly one FINAL.
void check_metrics(const std::vector<nnilib::Metric>& metrics, const json& parameter_id, int epochs,
                   const std::string& trial_id) {
  REQUIRE(metrics.size() == static_cast<size_t>(epochs + 1));
  for (int i = 0; i < epochs; ++i) {
    const nnilib::Metric& m = metrics[static_cast<size_t>(i)];
    CHECK(m.type == nnilib::MetricType::kPeriodical);
    CHECK(m.sequence == i);
    CHECK(m.trial_job_id == trial_id);
    CHECK(nnilib::same_parameter_id(m.parameter_id, parameter_id));
    for (const char* key : {"default", "val_loss", "train_loss", "train_accuracy"}) {
      CHECK(m.value.at(key).is_number());
    }
    CHECK(m.value["default"].get<double>() > 0.3);  // it learns, even on 400 images
  }
  const nnilib::Metric& f = metrics.back();
  CHECK(f.type == nnilib::MetricType::kFinal);
  CHECK(f.sequence == 0);
  CHECK(nnilib::same_parameter_id(f.parameter_id, parameter_id));
  CHECK(f.value["default"] == metrics[static_cast<size_t>(epochs - 1)].value["default"]);
  for (const char* key : {"test_accuracy", "params", "macs", "seconds", "best_val_accuracy"}) {
    CHECK(f.value.at(key).is_number());
  }
}

std::vector<nnilib::Metric> decode(const std::vector<std::string>& texts, const std::string& trial,
                                   const json& parameter_id) {
  nnilib::MetricChecker checker(trial, parameter_id);
  std::vector<nnilib::Metric> out;
  for (const std::string& t : texts) out.push_back(checker.accept_text(t));
  return out;
}

// The trial's error line (a line about OpenBLAS's kernel may come before it on some CPUs).
std::string error_line(const std::string& err) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = err.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (err.compare(start, 26, "fmnist-trial: OpenBLAS did") != 0) {
      lines.push_back(err.substr(start, nl + 1 - start));
    }
  }
  return lines.size() == 1 ? lines.front() : "(" + std::to_string(lines.size()) + " lines) " + err;
}

}  // namespace

TEST_CASE("v3 HTTP channel with an integer parameter_id: one request, every epoch, one FINAL") {
  StandinOptions opt;
  opt.trial_id = "Ab3xY";
  opt.record = record(7, kSmallArch);
  NniStandin nni(opt);
  TempDir dir("fmnist-v3");
  const ProcessResult r =
      run_process(trial_argv(), nni_v3_environment(nni.url(), "Ab3xY", dir), 120s);
  INFO(r.out << r.err << nni.summary());
  REQUIRE(r.exit_code == 0);
  CHECK(nni.violations().empty());
  CHECK(nni.parameter_requests() == 1);
  CHECK(nni.dropped_puts() == 0);
  check_metrics(nni.metrics(), 7, 2, "Ab3xY");
  // Artifacts go to NNI_OUTPUT_DIR; the log (stdout) has one line per epoch.
  CHECK(std::filesystem::exists(dir.path() + "/model.pt"));
  const json summary = json::parse(read_whole_file(dir.path() + "/summary.json"));
  CHECK(summary["curve"].size() == 2);
  CHECK(summary["parameters"]["filter_size_c1"] == 32);
  CHECK_THAT(r.out, Catch::Contains("epoch   1/2") && Catch::Contains("epoch   2/2"));
  CHECK_THAT(r.out, Catch::Contains("trial Ab3xY of experiment"));
}

TEST_CASE(
    "v3 HTTP channel: a Hyperband string parameter_id is echoed and TRIAL_BUDGET sets the epochs") {
  StandinOptions opt;
  json params = kSmallArch;
  params.erase("epochs");
  params["TRIAL_BUDGET"] = 3;
  opt.record = record("2_0_7", params);
  NniStandin nni(opt);
  TempDir dir("fmnist-budget");
  const ProcessResult r =
      run_process(trial_argv(), nni_v3_environment(nni.url(), "S1i7C", dir), 120s);
  INFO(r.out << r.err << nni.summary());
  REQUIRE(r.exit_code == 0);
  CHECK(nni.violations().empty());
  check_metrics(nni.metrics(), "2_0_7", 3, "S1i7C");
  CHECK(nni.metrics().front().parameter_id.is_string());
}

TEST_CASE("legacy file channel (NNI 2.x local): frames are byte-exact") {
  TempDir dir("fmnist-file");
  write_parameter_file(dir, record(3, kSmallArch));
  const ProcessResult r =
      run_process(trial_argv(), nni_legacy_environment("local", "Lf1", dir), 120s);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto frames = read_metric_frames(dir.path() + "/.nni/metrics");
  check_metrics(decode(frames, "Lf1", 3), 3, 2, "Lf1");
}

TEST_CASE("legacy stdout channel (NNI 2.x remote): NNISDK_MEb lines") {
  TempDir dir("fmnist-stdout");
  write_parameter_file(dir, record(4, kSmallArch));
  const ProcessResult r =
      run_process(trial_argv(), nni_legacy_environment("remote", "Rs1", dir), 120s);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  check_metrics(decode(parse_stdout_metrics(r.out), "Rs1", 4), 4, 2, "Rs1");
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/.nni/metrics"));
}

TEST_CASE("an absent NNI manager is a clear error within the retry bound") {
  AbsentManager absent;
  TempDir dir("fmnist-absent");
  const ProcessResult r =
      run_process(trial_argv(), nni_v3_environment(absent.url(), "S1i7C", dir), 60s);
  CHECK(r.exit_code == 6);
  CHECK(r.seconds < 10);
  CHECK_THAT(error_line(r.err),
             Catch::StartsWith("fmnist-trial: error:") && Catch::Contains(absent.url()));
}

TEST_CASE("NNI closing the channel before sending parameters: clean exit, nothing owed") {
  NniStandin nni;
  nni.close();
  TempDir dir("fmnist-closed");
  const ProcessResult r =
      run_process(trial_argv(), nni_v3_environment(nni.url(), "S1i7C", dir), 60s);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(nni.metrics().empty());
  CHECK_THAT(r.err, Catch::Contains("nothing to do"));
}

TEST_CASE("NNI stopped mid-run (manager gone): the trial fails with a channel error") {
  StandinOptions opt;
  opt.record = record(1, kSmallArch);
  opt.shutdown_after_metrics = 1;
  NniStandin nni(opt);
  TempDir dir("fmnist-gone");
  const ProcessResult r =
      run_process(trial_argv(), nni_v3_environment(nni.url(), "S1i7C", dir), 60s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 6);
  CHECK(nni.metrics().size() == 1);
  CHECK_FALSE(nni.final_metric().has_value());
  // What was already written stays: the first epoch's summary is not lost.
  CHECK_THAT(r.err, Catch::Contains("fmnist-trial: error:"));
}

TEST_CASE("a malformed parameter record is a clear error naming what is wrong") {
  StandinOptions opt;
  opt.raw_parameter_command =
      R"({"type":"parameter","parameter":"{\"parameter_id\": 0, \"parameters\": [1, 2]}"})";
  NniStandin nni(opt);
  TempDir dir("fmnist-malformed");
  const ProcessResult r =
      run_process(trial_argv(), nni_v3_environment(nni.url(), "S1i7C", dir), 60s);
  CHECK(r.exit_code == 6);
  CHECK_THAT(r.err, Catch::Contains("parameters"));
  CHECK(nni.metrics().empty());
}

TEST_CASE("an unknown parameter from the tuner fails fast with the accepted names") {
  StandinOptions opt;
  opt.record = record(0, {{"filter_size_c1", 32}, {"dropout_rate", 0.5}});
  NniStandin nni(opt);
  TempDir dir("fmnist-unknown");
  const ProcessResult r =
      run_process(trial_argv(), nni_v3_environment(nni.url(), "S1i7C", dir), 60s);
  CHECK(r.exit_code == 3);
  CHECK(r.seconds < 5);
  CHECK_THAT(r.err,
             Catch::Contains("unknown parameter \"dropout_rate\" (accepted: filter_size_c1"));
  CHECK(nni.metrics().empty());
}

TEST_CASE("SIGINT mid-epoch: exit at the next batch, intermediate results kept, no FINAL") {
  StandinOptions opt;
  json params = kSmallArch;
  params["epochs"] = 50;
  opt.record = record(5, params);
  NniStandin nni(opt);
  TempDir dir("fmnist-sigint");
  ChildProcess child({NNILIB_FMNIST_TRIAL, "--data-dir", testutil::data_dir(), "--train-size",
                      "3000", "--val-size", "500", "--test-size", "500", "--threads", "1"},
                     nni_v3_environment(nni.url(), "S1i7C", dir));
  // The first epoch's result is in: the trial is in its second epoch (of 50), which
  // it must not finish. (Events, not clocks: a loaded machine slows both sides.)
  REQUIRE(nni.wait_for_metrics(1, 120s));
  child.send_signal(SIGINT);
  const ProcessResult r = child.wait(120s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 130);
  CHECK_FALSE(nni.final_metric().has_value());
  CHECK(nni.periodical_metrics().size() >= 1);
  CHECK(nni.violations().empty());
  const json summary = json::parse(read_whole_file(dir.path() + "/summary.json"));
  CHECK(summary["interrupted"] == true);
  // Stopped at a batch of the second epoch, not at its end (nor the run's).
  CHECK(summary["curve"].size() == 1);
  CHECK(nni.periodical_metrics().size() == 1);
  CHECK_THAT(r.err, Catch::Contains("interrupted by SIGINT"));
}

TEST_CASE("SIGINT during start-up (data, probe): exit 130 at once, no epoch, no result") {
  TempDir dir("fmnist-sigint-start");
  // The whole training set and an auto precision: the data and the probe take a while
  // after the "params" line, which is printed before either starts.
  ChildProcess child(
      {NNILIB_FMNIST_TRIAL, "--data-dir", testutil::data_dir(), "--threads", "1", "--print-params",
       "--output", dir.path() + "/summary.json", "--params", R"({"epochs": 30})"},
      {});
  for (int i = 0; i < 12000 && child.stdout_so_far().find("params ") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE_THAT(child.stdout_so_far(), Catch::Contains("params "));
  child.send_signal(SIGINT);
  const ProcessResult r = child.wait(120s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 130);
  CHECK(r.out.find("\nepoch") == std::string::npos);  // no epoch line
  CHECK_THAT(r.err, Catch::Contains("SIGINT") &&
                        (Catch::Contains("; no result") || Catch::Contains("no final result")));
  // Where the signal lands is the machine's business: in the data or the probe (usually)
  // the run ends there and writes nothing; at the first batch it says so in summary.json.
  // (test_data and test_trainer stop the loading and the probe deterministically.)
  if (r.err.find("interrupted while") != std::string::npos ||
      r.err.find("interrupted during") != std::string::npos)
    CHECK_FALSE(std::filesystem::exists(dir.path() + "/summary.json"));
}

TEST_CASE("standalone: bad input gives one line and its exit code") {
  TempDir dir("fmnist-standalone");
  auto run = [&](std::vector<std::string> extra) {
    return run_process(trial_argv(std::move(extra)), {}, 60s, dir);
  };
  SECTION("bad parameters: exit 3") {
    const auto r = run({"--params", R"({"nb_units": 90})"});
    CHECK(r.exit_code == 3);
    CHECK(error_line(r.err) ==
          "fmnist-trial: error: parameter \"nb_units\" = 90 is not one of 80, 100, 120\n");
  }
  SECTION("parameters that are not a JSON object, or hold an overflowing number: exit 3") {
    const auto n = run({"--params", "null"});
    CHECK(n.exit_code == 3);
    CHECK(error_line(n.err) ==
          "fmnist-trial: error: --params: expected a JSON object of parameters such as "
          "{\"epochs\": 5}, got null\n");
    const auto a = run({"--params", "[1,2]"});
    CHECK(a.exit_code == 3);
    CHECK_THAT(error_line(a.err), Catch::EndsWith("got array\n"));
    const auto o = run({"--params", R"({"learning_rate": 1e309})"});
    CHECK(o.exit_code == 3);
    CHECK(error_line(o.err) ==
          "fmnist-trial: error: --params: holds a number beyond the range of a double (such as "
          "1e309)\n");
    const auto d = run({"--params-file", dir.path()});
    CHECK(d.exit_code == 3);
    CHECK(error_line(d.err) ==
          "fmnist-trial: error: " + dir.path() + ": is a directory, not a parameters file\n");
    // A huge value is named, not echoed whole.
    const std::string big = dir.path() + "/big.json";
    std::ofstream(big) << R"({"optimizer": ")" << std::string(1 << 20, 'x') << R"("})";
    const auto b = run({"--params-file", big});
    CHECK(b.exit_code == 3);
    CHECK_THAT(error_line(b.err), Catch::Contains("(1048578 characters) is not one of"));
    CHECK(error_line(b.err).size() < 300);
    // A million nested arrays, or 10,000 nested objects: refused before parsing.
    const std::string arrays = dir.path() + "/arrays.json";
    std::ofstream(arrays) << std::string(1000000, '[') << std::string(1000000, ']');
    const auto da = run({"--params-file", arrays});
    CHECK(da.exit_code == 3);
    CHECK(error_line(da.err) ==
          "fmnist-trial: error: " + arrays +
              ": nested deeper than 64 levels (arrays/objects) at line 1, column 65\n");
    std::string objects;
    for (int i = 0; i < 10000; ++i) objects += R"({"a":)";  // one argv string: < 128 KB
    objects += "1" + std::string(10000, '}');
    const auto dobj = run({"--params", objects});
    CHECK(dobj.exit_code == 3);
    CHECK_THAT(error_line(dobj.err), Catch::Contains("--params: nested deeper than 64 levels"));
  }
  SECTION("an output directory that cannot be written: exit 8 before any training") {
    // A directory that exists but takes no files (even from root): found before training.
    const auto p = run({"--output-dir", "/proc", "--params", R"({"epochs": 1})"});
    CHECK(p.exit_code == 8);
    CHECK_THAT(
        error_line(p.err),
        Catch::StartsWith("fmnist-trial: error: /proc: cannot write in the output directory"));
    CHECK_THAT(p.out, !Catch::Contains("epoch"));
    // A file where the directory should be: creating it fails (root ignores mode bits).
    const std::string blocked = dir.path() + "/blocked";
    std::ofstream(blocked) << "x";
    const auto r = run({"--output-dir", blocked + "/out", "--params", R"({"epochs": 1})"});
    CHECK(r.exit_code == 8);
    CHECK_THAT(error_line(r.err),
               Catch::Contains("blocked/out: cannot create the output directory"));
    CHECK_THAT(r.out, !Catch::Contains("epoch"));
  }
  SECTION("a disk that fills up while the weights are saved: exit 8, no partial file") {
    // ulimit -f stands in for a full disk: the write fails with EFBIG after 64 KiB.
    const std::string out = dir.path() + "/full";
    std::vector<std::string> argv = {"/bin/bash", "-c", "ulimit -f 64; exec \"$@\"", "bash"};
    for (const auto& a : trial_argv({"--output-dir", out, "--params", R"({"epochs": 1})"}))
      argv.push_back(a);
    const auto r = run_process(argv, {}, 120s, dir);
    CHECK(r.exit_code == 8);
    CHECK_THAT(r.err, Catch::EndsWith("\nfmnist-trial: error: " + out +
                                      "/model.pt: cannot write the model weights (File too "
                                      "large)\n"));
    CHECK_FALSE(std::filesystem::exists(out + "/model.pt.tmp"));
    CHECK_FALSE(std::filesystem::exists(out + "/model.pt"));
  }
  SECTION("parameters that are not JSON: exit 3") {
    const auto r = run({"--params", "{nb_units: 90}"});
    CHECK(r.exit_code == 3);
    CHECK_THAT(error_line(r.err),
               Catch::StartsWith("fmnist-trial: error: --params: not valid JSON"));
  }
  SECTION("missing data: exit 4 naming the directory") {
    const auto r = run({"--data-dir", dir.path() + "/nowhere"});
    CHECK(r.exit_code == 4);
    CHECK_THAT(r.err, Catch::Contains("/nowhere: data directory not found"));
  }
  SECTION("a corrupt data file: exit 4 naming the file") {
    const std::string data = dir.path() + "/data";
    std::filesystem::create_directories(data);
    for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
      std::filesystem::copy_file(testutil::data_dir() + "/" + f, data + "/" + f);
    }
    std::filesystem::resize_file(data + "/t10k-labels-idx1-ubyte.gz", 100);
    const auto r = run({"--data-dir", data});
    CHECK(r.exit_code == 4);
    CHECK_THAT(r.err, Catch::Contains("t10k-labels-idx1-ubyte.gz: corrupt gzip data"));
  }
  SECTION("bad command line: exit 2") {
    CHECK(run({"--threads", "-1"}).exit_code == 2);
    CHECK(run({"--no-such-flag"}).exit_code == 2);
    // More threads than cores: capped, with a word (one command line, machines of any size).
    const auto t = run({"--threads", "10000", "--dry-run"});
    CHECK(t.exit_code == 0);
    CHECK_THAT(error_line(t.err),
               Catch::StartsWith("fmnist-trial: --threads 10000 is more than this machine's ") &&
                   Catch::Contains("logical cores; using"));
  }
  SECTION("a bad precision, on the command line or in NNILIB_PRECISION: exit 2 naming it") {
    const auto r = run({"--precision", "fp16"});
    CHECK(r.exit_code == 2);
    CHECK(error_line(r.err) ==
          "fmnist-trial: error: --precision fp16: unknown precision (expected auto, fp32 or "
          "bf16)\n");
    const auto e = run_process(trial_argv({"--params", R"({"epochs": 1})"}),
                               {{"NNILIB_PRECISION", "half"}}, 60s, dir);
    CHECK(e.exit_code == 2);
    CHECK_THAT(error_line(e.err), Catch::Contains("NNILIB_PRECISION half: unknown precision"));
  }
  SECTION("the precision that ran is printed with its reason and recorded in the summary") {
    const auto r = run_process(
        trial_argv({"--params", R"({"epochs": 1, "filter_size_c1": 32, "filter_size_c2": 32})",
                    "--output", dir.path() + "/fp32.json"}),
        {{"NNILIB_PRECISION", "fp32"}}, 60s, dir);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("\nprecision fp32 (requested)\n"));
    CHECK(json::parse(read_whole_file(dir.path() + "/fp32.json"))["precision"] == "fp32");
    // --precision wins over the environment; auto says what it chose and why.
    const auto a = run_process(
        trial_argv({"--precision", "auto", "--params", R"({"epochs": 1, "filter_size_c1": 32})",
                    "--output", dir.path() + "/auto.json"}),
        {{"NNILIB_PRECISION", "fp32"}}, 60s, dir);
    REQUIRE(a.exit_code == 0);
    CHECK_THAT(a.out, Catch::Contains("\nprecision ") && Catch::Contains(" (auto: "));
    const json s = json::parse(read_whole_file(dir.path() + "/auto.json"));
    CHECK((s["precision"] == "fp32" || s["precision"] == "bf16"));
    CHECK_THAT(s["precision_reason"].get<std::string>(), Catch::StartsWith("auto: "));
  }
  SECTION("--dry-run checks the parameters and prints the cost without training") {
    const auto r = run({"--params", R"({"num_blocks": 2})", "--print-params", "--dry-run"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("params {") && Catch::Contains("cost   "));
    CHECK_THAT(r.out, !Catch::Contains("epoch "));
    CHECK_FALSE(std::filesystem::exists(dir.path() + "/summary.json"));
    CHECK(run({"--params", R"({"num_blocks": 9})", "--dry-run"}).exit_code == 3);
  }
  SECTION("--check-space validates a space against the trial's parameters") {
    const auto ok = run({"--check-space", std::string(NNILIB_SOURCE_DIR) + "/search_space.json"});
    CHECK(ok.exit_code == 0);
    CHECK_THAT(ok.out, Catch::Contains("num_blocks") && Catch::Contains("size: infinite") &&
                           Catch::Contains("ok: 1000 sampled parameter sets are accepted") &&
                           Catch::Contains("costliest sample: {"));
    const std::string bad = dir.path() + "/bad_space.json";
    std::ofstream(bad) << R"({"filter_size_c1": {"_type": "choice", "_value": [32, 48]}})";
    const auto r = run({"--check-space", bad});
    CHECK(r.exit_code == 3);
    CHECK_THAT(error_line(r.err),
               Catch::Contains("are refused by the trial: parameter \"filter_size_c1\" = 48"));
    const std::string broken = dir.path() + "/broken_space.json";
    std::ofstream(broken) << R"({"learning_rate": {"_type": "loguniform", "_value": [0, 0.1]}})";
    CHECK(run({"--check-space", broken}).exit_code == 3);
  }
  SECTION("an architecture over a --max-* limit is refused before training: exit 7") {
    const auto p = run({"--max-params", "100000"});
    CHECK(p.exit_code == 7);
    CHECK(error_line(p.err) ==
          "fmnist-trial: error: architecture has 960278 parameters, over --max-params 100000 "
          "(conv64k3 relu > conv64k3 relu maxpool2 > fc100 relu > fc10)\n");
    const auto m = run({"--max-macs", "1e6", "--params", R"({"num_blocks": 2})"});
    CHECK(m.exit_code == 7);
    CHECK_THAT(error_line(m.err),
               Catch::Contains(
                   "3839104 multiply-accumulates per image, over --max-macs 1e+06 (conv32k3p1"));
    const auto g = run({"--max-memory", "100M"});
    CHECK(g.exit_code == 7);
    CHECK_THAT(error_line(g.err), Catch::Contains("(batch_size 64), over --max-memory 100 MiB"));
    CHECK(run({"--max-memory", "lots"}).exit_code == 2);
    CHECK(run({"--max-memory", "900M", "--max-params", "2000000", "--params", R"({"epochs": 1})",
               "--no-save"})
              .exit_code == 0);
  }
  SECTION("--val-size 0 trains on every training image and reports the test accuracy") {
    const auto r = run(
        {"--val-size", "0", "--params", R"({"epochs": 1})", "--output-dir", dir.path() + "/final"});
    REQUIRE(r.exit_code == 0);
    const json summary = json::parse(read_whole_file(dir.path() + "/final/summary.json"));
    CHECK(summary["val_size"] == 0);
    CHECK(summary["best_val_accuracy"].is_null());
    CHECK(summary["test_accuracy"].get<double>() > 0.3);
  }
  SECTION("--sample trains one seeded point of a space and --print-params shows it") {
    const std::string space = std::string(NNILIB_SOURCE_DIR) + "/search_space.json";
    const auto a = run({"--sample", space, "--seed", "4", "--print-params", "--params",
                        R"({"epochs": 1})", "--no-save"});
    const auto b = run({"--sample", space, "--seed", "4", "--print-params", "--params",
                        R"({"epochs": 1})", "--no-save"});
    REQUIRE(a.exit_code == 0);
    const auto params_line = [](const std::string& out) {
      const size_t at = out.find("params {");
      return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
    };
    CHECK_FALSE(params_line(a.out).empty());
    CHECK(params_line(a.out) == params_line(b.out));
    CHECK_THAT(params_line(a.out), Catch::Contains("\"epochs\":1"));
  }
  SECTION("a good standalone run writes its summary and prints it") {
    const auto r =
        run({"--params", R"({"epochs": 1, "filter_size_c1": 32, "filter_size_c2": 32})"});
    REQUIRE(r.exit_code == 0);
    const json summary = json::parse(read_whole_file(dir.path() + "/summary.json"));
    CHECK(summary["epochs_completed"] == 1);
    CHECK(summary["test_accuracy"].get<double>() > 0.3);
    CHECK_THAT(r.out, Catch::Contains("\"final_val_accuracy\""));
  }
}

TEST_CASE("standalone: --checkpoint, then --resume-from continues the run, a bad one is exit 3") {
  TempDir dir("fmnist-checkpoint");
  auto run = [&](std::vector<std::string> extra) {
    return run_process(trial_argv(std::move(extra)), {}, 120s, dir);
  };
  const std::string ckpt = dir.path() + "/ckpt.pt";
  const auto first = run({"--params", R"({"epochs": 1})", "--schedule-epochs", "3", "--checkpoint",
                          ckpt, "--output-dir", dir.path() + "/a"});
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);
  REQUIRE(std::filesystem::exists(ckpt));
  const auto second = run({"--params", R"({"epochs": 3})", "--schedule-epochs", "3",
                           "--resume-from", ckpt, "--output-dir", dir.path() + "/b"});
  INFO(second.out << second.err);
  REQUIRE(second.exit_code == 0);
  const json summary = json::parse(read_whole_file(dir.path() + "/b/summary.json"));
  CHECK(summary["resumed_epochs"] == 1);
  CHECK(summary["curve"].size() == 3);
  CHECK_THAT(second.out, Catch::Contains("epoch   2/3") && !Catch::Contains("epoch   1/3"));
  // Another run's checkpoint (another learning rate), or a damaged one: exit 3, no training.
  const auto other = run({"--params", R"({"epochs": 3, "learning_rate": 0.01})",
                          "--schedule-epochs", "3", "--resume-from", ckpt});
  CHECK(other.exit_code == 3);
  CHECK_THAT(error_line(other.err),
             Catch::Contains("ckpt.pt: made for another run") && Catch::Contains("learning_rate"));
  std::filesystem::resize_file(ckpt, 100);
  const auto cut =
      run({"--params", R"({"epochs": 3})", "--schedule-epochs", "3", "--resume-from", ckpt});
  CHECK(cut.exit_code == 3);
  CHECK_THAT(error_line(cut.err), Catch::StartsWith("fmnist-trial: error: " + ckpt + ": "));
  CHECK_THAT(cut.out, !Catch::Contains("epoch"));
}

TEST_CASE("standalone: --evaluate gives a saved model's figures back, --tta flip, bad files") {
  TempDir dir("fmnist-evaluate");
  auto run = [&](std::vector<std::string> extra) {
    return run_process(trial_argv(std::move(extra)), {}, 120s, dir);
  };
  const std::string params = R"({"epochs": 1, "augment_flip": true})";
  const auto trained = run({"--params", params, "--output-dir", dir.path(), "--precision", "fp32"});
  INFO(trained.out << trained.err);
  REQUIRE(trained.exit_code == 0);
  const json summary = json::parse(read_whole_file(dir.path() + "/summary.json"));
  const std::string weights = dir.path() + "/model.pt";

  const auto plain = run({"--params", params, "--evaluate", weights, "--precision", "fp32",
                          "--quiet", "--output", dir.path() + "/eval.json"});
  INFO(plain.out << plain.err);
  REQUIRE(plain.exit_code == 0);
  const json e = json::parse(read_whole_file(dir.path() + "/eval.json"));
  CHECK(e["final_val_accuracy"] == summary["final_val_accuracy"]);
  CHECK(e["test_accuracy"] == summary["test_accuracy"]);
  CHECK(e["epochs_completed"] == 0);
  CHECK(e["evaluated_weights"] == weights);
  CHECK(e["test_time_augmentation"] == "none");
  CHECK_THAT(plain.out, Catch::Contains("evaluate  validation accuracy") &&
                            Catch::Contains("evaluate  test accuracy") &&
                            !Catch::Contains("epoch"));
  // Nothing but --output was written: the trained run's files are as they were.
  CHECK(json::parse(read_whole_file(dir.path() + "/summary.json")) == summary);

  const auto flip =
      run({"--params", params, "--evaluate", weights, "--precision", "fp32", "--tta", "flip"});
  INFO(flip.out << flip.err);
  REQUIRE(flip.exit_code == 0);
  CHECK_THAT(flip.out, Catch::Contains("(200 images, flip test-time augmentation)"));

  // Weights of another architecture, a missing file, a bad --tta: one line each.
  const auto other = run({"--params", R"({"epochs": 1, "num_blocks": 3})", "--evaluate", weights});
  CHECK(other.exit_code == 3);
  CHECK_THAT(error_line(other.err), Catch::StartsWith("fmnist-trial: error: " + weights +
                                                      ": not the weights of this architecture ("));
  const auto missing = run({"--params", params, "--evaluate", dir.path() + "/none.pt"});
  CHECK(missing.exit_code == 3);
  CHECK_THAT(error_line(missing.err), Catch::Contains("none.pt: no such weights file"));
  const auto bad = run({"--params", params, "--evaluate", weights, "--tta", "rotate"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--tta"));
}

TEST_CASE("standalone: --dataset cifar10 trains a 3-channel model, a missing file is exit 4") {
  TempDir dir("fmnist-cifar");
  const std::string data = testutil::cifar_set("fmnist-cifar", 60);
  const auto argv = [&](const std::string& data_dir) {
    return std::vector<std::string>{NNILIB_FMNIST_TRIAL,
                                    "--dataset",
                                    "cifar10",
                                    "--data-dir",
                                    data_dir,
                                    "--val-size",
                                    "100",
                                    "--threads",
                                    "1",
                                    "--params",
                                    R"({"num_blocks": 5, "epochs": 1, "batch_size": 32})",
                                    "--output-dir",
                                    dir.path()};
  };
  const auto r = run_process(argv(data), {}, 120s, dir);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json summary =
      nlohmann::json::parse(nnilib::standin::read_whole_file(dir.path() + "/summary.json"));
  CHECK(summary["dataset"] == "cifar10");
  CHECK(summary["train_size"] == 200);
  CHECK(summary["test_size"] == 60);
  // Five blocks halve 32 down to 1: a valid model here, refused for 28x28 images.
  CHECK_THAT(summary["architecture"].get<std::string>(), Catch::EndsWith("fc10"));
  std::filesystem::remove(data + "/cifar-10-batches-bin/test_batch.bin");
  const auto missing = run_process(argv(data), {}, 60s, dir);
  CHECK(missing.exit_code == 4);
  CHECK_THAT(missing.err, Catch::Contains("test_batch.bin: not found"));
  // Checking parameters needs no data; training MNIST needs to be told where it is.
  CHECK(run_process({NNILIB_FMNIST_TRIAL, "--dataset", "mnist", "--dry-run"}, {}, 60s, dir)
            .exit_code == 0);
  const auto mnist = run_process({NNILIB_FMNIST_TRIAL, "--dataset", "mnist"}, {}, 60s, dir);
  CHECK(mnist.exit_code == 3);
  CHECK_THAT(mnist.err, Catch::Contains("--dataset mnist needs --data-dir"));
}
