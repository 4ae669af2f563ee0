// The trial API (nnilib/trial.h) over its four channels, against the stand-in NNI
// manager: real child processes (tests/tools/probe_trial), real HTTP on 127.0.0.1,
// every wait bounded.
#include <atomic>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include "nni_standin/child_process.h"
#include "nni_standin/metric_files.h"
#include "nni_standin/standin.h"
#include "nnilib/trial/channel.h"
#include "nnilib/trial/trial.h"

using nlohmann::json;
using nnilib::Metric;
using nnilib::MetricFault;
using nnilib::MetricType;
using nnilib::ParameterRecord;
using namespace nnilib::standin;
using namespace std::chrono_literals;

namespace {

const std::string kProbe = NNILIB_PROBE_TRIAL;
constexpr std::chrono::milliseconds kChildTimeout = 30s;
// Small retry bounds so failure cases finish in a few seconds.
const std::vector<std::string> kFast = {"--retries",    "2",    "--backoff-ms",    "100",
                                        "--timeout-ms", "2000", "--param-wait-ms", "20000"};

ProcessResult run_probe(std::vector<std::string> args, const Environment& env) {
  args.insert(args.begin(), kProbe);
  return run_process(args, env, kChildTimeout);
}

std::vector<std::string> with_fast(std::vector<std::string> args) {
  args.insert(args.end(), kFast.begin(), kFast.end());
  return args;
}

std::string describe(const ProcessResult& r) {
  return "exit=" + std::to_string(r.exit_code) + " signal=" + std::to_string(r.term_signal) +
         (r.timed_out ? " TIMED OUT" : "") + " seconds=" + std::to_string(r.seconds) +
         "\n--- stdout ---\n" + r.out + "--- stderr ---\n" + r.err;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The checks every well-behaved v3 run must pass: one parameter request, PERIODICAL
// 0..epochs-1, exactly one FINAL, ids echoed with their JSON type, nothing malformed.
void check_clean_v3_run(const NniStandin& nni, int epochs, const json& parameter_id,
                        bool probe_values = true) {
  INFO(nni.summary());
  CHECK(nni.violations().empty());
  CHECK(nni.parameter_requests() == 1);
  CHECK(nni.parameters_sent() == 1);
  CHECK(nni.dropped_puts() == 0);
  const auto periodical = nni.periodical_metrics();
  REQUIRE(periodical.size() == static_cast<std::size_t>(epochs));
  for (int i = 0; i < epochs; ++i) {
    CHECK(periodical[i].sequence == i);
    CHECK(nnilib::same_parameter_id(periodical[i].parameter_id, parameter_id));
    if (probe_values) {
      CHECK(periodical[i].value.contains("default"));
      CHECK(periodical[i].value.contains("loss"));
    }
  }
  REQUIRE(nni.final_metric());
  CHECK(nni.final_metric()->sequence == 0);
  CHECK(nnilib::same_parameter_id(nni.final_metric()->parameter_id, parameter_id));
  CHECK(nni.metrics().back().type == MetricType::kFinal);
  for (const auto& r : nni.requests()) {
    if (r.method == "PUT") CHECK(r.content_type == "application/json");
  }
  for (const auto& raw : nni.raw_metrics()) CHECK(raw.is_string());
}

template <typename Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace

// ---------------------------------------------------------------------------
// v3 HTTP channel, as a child process

TEST_CASE("v3: integer parameter_id - one request - PERIODICAL 0..E-1 - one FINAL") {
  NniStandin nni;
  TempDir dir("nni-v3");
  ProcessResult r =
      run_probe(with_fast({"--epochs", "4"}), nni_v3_environment(nni.url(), "S1i7C", dir));
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  check_clean_v3_run(nni, 4, json(0));
  CHECK(nni.final_metric()->value["default"] == Approx(0.489));
  CHECK(nni.periodical_metrics()[3].value["default"] == Approx(0.489));
  CHECK(contains(r.out, "channel=v3-http trial=S1i7C experiment=standinexp seq=0"));
  // The captured exchange's exact wire text for the FINAL (keys in NNI's order).
  const auto raw = nni.raw_metrics();
  CHECK(raw.back().get<std::string>() ==
        R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "FINAL", "sequence": 0, )"
        R"("value": "{\"default\": 0.489, \"loss\": 0.25}"})");
}

TEST_CASE("v3: string parameter_id (Hyperband) is echoed as a string") {
  TempDir dir("nni-v3");
  StandinOptions o;
  o.trial_id = "Hb0x7";
  o.record.parameter_id = "2_0_7";
  o.record.parameters = json{{"x", 0.25}, {"TRIAL_BUDGET", 3}, {"conv", {{"_name", "deep"}}}};
  NniStandin nni(o);
  ProcessResult r =
      run_probe(with_fast({"--epochs", "3"}), nni_v3_environment(nni.url(), "Hb0x7", dir.path()));
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  check_clean_v3_run(nni, 3, json("2_0_7"));
  CHECK(nni.final_metric()->parameter_id.is_string());
  CHECK(contains(r.out, R"(parameter_id="2_0_7")"));
  CHECK(contains(r.out, R"("TRIAL_BUDGET":3)"));
}

TEST_CASE("v3: the trial asks again after each 408 until the parameter comes") {
  TempDir dir("nni-v3");
  StandinOptions o;
  o.parameter_delay = 1500ms;  // the real 1 s long poll answers 408 at least once
  NniStandin nni(o);
  ProcessResult r =
      run_probe(with_fast({"--epochs", "2"}), nni_v3_environment(nni.url(), "S1i7C", dir.path()));
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  CHECK(nni.gets_answered(408) >= 1);
  CHECK(nni.gets_answered(200) == 1);
  check_clean_v3_run(nni, 2, json(0));
}

TEST_CASE("v3: 410 while waiting for the parameter ends the trial cleanly") {
  TempDir dir("nni-v3");
  StandinOptions o;
  o.parameter_delay = std::chrono::hours(1);  // never
  o.poll_timeout = 300ms;
  NniStandin nni(o);
  std::thread closer([&] {
    poll_until([&] { return nni.gets_answered(408) >= 1; }, 10s);
    nni.close();
  });
  ProcessResult r =
      run_probe(with_fast({"--epochs", "2"}), nni_v3_environment(nni.url(), "S1i7C", dir.path()));
  closer.join();
  INFO(describe(r));
  INFO(nni.summary());
  CHECK(r.exit_code == 0);  // ChannelClosed: no result owed
  CHECK(contains(r.err, "410"));
  CHECK(nni.gets_answered(410) == 1);
  CHECK(nni.raw_metrics().empty());
  CHECK(nni.violations().empty());
}

TEST_CASE("v3: channel closed (410) mid-run: PUTs are still answered - the trial completes") {
  TempDir dir("nni-v3");
  StandinOptions o;
  o.close_after_metrics = 2;
  NniStandin nni(o);
  ProcessResult r =
      run_probe(with_fast({"--epochs", "4"}), nni_v3_environment(nni.url(), "S1i7C", dir.path()));
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  check_clean_v3_run(nni, 4, json(0));
  int after_close = 0;
  for (const auto& req : nni.requests()) after_close += req.after_close ? 1 : 0;
  CHECK(after_close == 3);  // PERIODICAL 2, 3 and the FINAL
}

TEST_CASE("v3: manager gone mid-run: ChannelError within the retry bound") {
  TempDir dir("nni-v3");
  StandinOptions o;
  o.shutdown_after_metrics = 2;
  NniStandin nni(o);
  ProcessResult r =
      run_probe(with_fast({"--epochs", "4"}), nni_v3_environment(nni.url(), "S1i7C", dir.path()));
  INFO(describe(r));
  INFO(nni.summary());
  CHECK(r.exit_code == static_cast<int>(nnilib::ExitCode::kChannel));
  CHECK(r.seconds < 10);
  CHECK(contains(r.err, nni.url()));
  CHECK(contains(r.err, "cannot connect"));
  CHECK(contains(r.err, "after 3 attempt(s)"));
  CHECK(nni.raw_metrics().size() == 2);
  CHECK_FALSE(nni.final_metric());
  CHECK(nni.violations().empty());
}

TEST_CASE("v3: manager absent: a clear error within the retry bound") {
  TempDir dir("nni-v3");
  AbsentManager absent("S1i7C");
  const std::string url = absent.url();
  ProcessResult r =
      run_probe(with_fast({"--epochs", "2"}), nni_v3_environment(url, "S1i7C", dir.path()));
  INFO(describe(r));
  CHECK(r.exit_code == static_cast<int>(nnilib::ExitCode::kChannel));
  CHECK(r.seconds < 5);  // 3 attempts, backoff 100 + 200 ms
  CHECK(contains(r.err, url));
  CHECK(contains(r.err, "PUT request_parameter failed after 3 attempt(s): cannot connect"));
}

TEST_CASE("v3: a malformed parameter record is a ChannelError naming what is wrong") {
  TempDir dir("nni-v3");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type": "parameter", "parameter": "{not json"})", "not JSON"},
      {R"({"type": "parameter", "parameter": "{\"parameter_id\": 0, \"parameters\": [1]}"})",
       "\"parameters\" is a JSON array, not an object"},
      {R"({"type": "parameter", "parameter": "{\"parameters\": {}}"})", "missing \"parameter_id\""},
      {R"({"type": "parameter", "parameter": {"parameter_id": 0, "parameters": {}}})",
       "\"parameter\" is a JSON object, not a string"},
      {R"(<html>oops</html>)", "not JSON"},
  };
  for (const auto& [body, expected] : cases) {
    INFO(body);
    StandinOptions o;
    o.raw_parameter_command = body;
    NniStandin nni(o);
    ProcessResult r =
        run_probe(with_fast({"--epochs", "2"}), nni_v3_environment(nni.url(), "S1i7C", dir.path()));
    INFO(describe(r));
    CHECK(r.exit_code == static_cast<int>(nnilib::ExitCode::kChannel));
    CHECK(contains(r.err, expected));
    CHECK(contains(r.err, nni.url()));
    CHECK(nni.raw_metrics().empty());
  }
}

TEST_CASE("v3: a NaN result is refused before anything is sent") {
  TempDir dir("nni-v3");
  NniStandin nni;
  ProcessResult r = run_probe(with_fast({"--epochs", "4", "--nan-at", "1"}),
                              nni_v3_environment(nni.url(), "S1i7C", dir.path()));
  INFO(describe(r));
  INFO(nni.summary());
  CHECK(r.exit_code == static_cast<int>(nnilib::ExitCode::kDiverged));
  CHECK(contains(r.err, "\"default\" is NaN or infinite"));
  CHECK(nni.raw_metrics().size() == 1);  // PERIODICAL 0 only
  CHECK_FALSE(nni.final_metric());
  CHECK(nni.violations().empty());
}

TEST_CASE("v3: a second FINAL is refused by the API - NNI sees exactly one") {
  TempDir dir("nni-v3");
  NniStandin nni;
  ProcessResult r = run_probe(with_fast({"--epochs", "2", "--double-final"}),
                              nni_v3_environment(nni.url(), "S1i7C", dir.path()));
  INFO(describe(r));
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, "report_final_result called twice"));
  check_clean_v3_run(nni, 2, json(0));
}

TEST_CASE("v3: SIGINT mid-run stops the trial without a FINAL - promptly") {
  TempDir dir("nni-v3");
  NniStandin nni;
  ChildProcess child({kProbe, "--epochs", "200", "--sleep-ms", "50", "--retries", "2"},
                     nni_v3_environment(nni.url(), "S1i7C", dir.path()));
  REQUIRE(nni.wait_for_metrics(2, 15s));
  child.send_signal(SIGINT);
  ProcessResult r = child.wait(10s);
  INFO(describe(r));
  INFO(nni.summary());
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == static_cast<int>(nnilib::ExitCode::kInterrupted));
  CHECK_FALSE(nni.final_metric());
  CHECK(nni.violations().empty());
  CHECK(nni.periodical_metrics().size() >= 2);
}

// ---------------------------------------------------------------------------
// Legacy file channel (NNI 2.x local)

TEST_CASE("legacy file: parameter.cfg in - byte-exact ME frames out") {
  TempDir tmp("nni-file");
  const std::string& sys_dir = tmp.path();
  ParameterRecord record = StandinOptions::default_record();
  record.parameter_id = 5;
  write_parameter_file(sys_dir, record);
  REQUIRE_FALSE(std::filesystem::exists(sys_dir + "/.nni"));
  ProcessResult r =
      run_probe(with_fast({"--epochs", "3"}), nni_legacy_environment("local", "F1le0", sys_dir));
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "channel=legacy-file"));
  CHECK(contains(r.out, "output_dir=" + sys_dir));
  CHECK(parse_stdout_metrics(r.out).empty());

  const std::string bytes = read_whole_file(sys_dir + "/.nni/metrics");
  const auto payloads = parse_metric_frames(bytes, "metrics");
  REQUIRE(payloads.size() == 4);
  nnilib::MetricChecker checker("F1le0", json(5));
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    INFO(payloads[i]);
    Metric m = checker.accept_text(payloads[i]);
    CHECK(m.type == (i < 3 ? MetricType::kPeriodical : MetricType::kFinal));
    CHECK(m.parameter_id.is_number_integer());
  }
  CHECK(checker.final_received());
  // First frame: "ME", six digits = payload bytes incl. "\n", payload.
  const std::string first = payloads[0] + "\n";
  char header[9];
  std::snprintf(header, sizeof header, "ME%06zu", first.size());
  CHECK(bytes.substr(0, 8 + first.size()) == std::string(header) + first);
}

TEST_CASE("legacy file: waits (bounded) for parameter.cfg to exist and be non-empty") {
  TempDir tmp("nni-file");
  const std::string& sys_dir = tmp.path();
  std::thread writer([&] {
    std::this_thread::sleep_for(400ms);
    std::ofstream(sys_dir + "/parameter.cfg").flush();  // exists but empty: keep waiting
    std::this_thread::sleep_for(400ms);
    ParameterRecord record = StandinOptions::default_record();
    record.parameter_id = "1_0_0";
    write_parameter_file(sys_dir, record);
  });
  ProcessResult r =
      run_probe(with_fast({"--epochs", "1"}), nni_legacy_environment("local", "F1le1", sys_dir));
  writer.join();
  INFO(describe(r));
  // It waited through the empty file: an empty parameter.cfg read as the parameters is
  // a malformed record (exit 6), and the metrics below carry the record written after it.
  REQUIRE(r.exit_code == 0);
  nnilib::MetricChecker checker("F1le1", json("1_0_0"));
  for (const auto& p : read_metric_frames(sys_dir + "/.nni/metrics")) checker.accept_text(p);
  CHECK(checker.periodical_count() == 1);
  CHECK(checker.final_received());
}

TEST_CASE("legacy file: no parameter.cfg is a ChannelError after the bounded wait") {
  TempDir tmp("nni-file");
  const std::string& sys_dir = tmp.path();
  ProcessResult r = run_probe({"--epochs", "1", "--param-wait-ms", "500"},
                              nni_legacy_environment("local", "F1le2", sys_dir));
  INFO(describe(r));
  CHECK(r.exit_code == static_cast<int>(nnilib::ExitCode::kChannel));
  CHECK(r.seconds < 5);
  CHECK(contains(r.err, sys_dir + "/parameter.cfg"));
  CHECK_FALSE(std::filesystem::exists(sys_dir + "/.nni/metrics"));
}

TEST_CASE("legacy file: a malformed parameter.cfg names the file and the fault") {
  TempDir tmp("nni-file");
  const std::string& sys_dir = tmp.path();
  std::ofstream(sys_dir + "/parameter.cfg") << R"({"parameter_id": 0, "parameters": 3})";
  ProcessResult r = run_probe({"--epochs", "1", "--param-wait-ms", "2000"},
                              nni_legacy_environment("local", "F1le3", sys_dir));
  INFO(describe(r));
  CHECK(r.exit_code == static_cast<int>(nnilib::ExitCode::kChannel));
  CHECK(contains(r.err, sys_dir + "/parameter.cfg"));
  CHECK(contains(r.err, "\"parameters\" is a JSON number, not an object"));
}

TEST_CASE("legacy file: SIGINT leaves only whole frames") {
  TempDir tmp("nni-file");
  const std::string& sys_dir = tmp.path();
  write_parameter_file(sys_dir, StandinOptions::default_record());
  ChildProcess child({kProbe, "--epochs", "100000"},
                     nni_legacy_environment("local", "F1le4", sys_dir));
  REQUIRE(poll_until(
      [&] {
        std::error_code ec;
        return std::filesystem::file_size(sys_dir + "/.nni/metrics", ec) > 2000 && !ec;
      },
      15s));
  child.send_signal(SIGINT);
  ProcessResult r = child.wait(10s);
  INFO(describe(r));
  CHECK(r.exit_code == static_cast<int>(nnilib::ExitCode::kInterrupted));
  const auto payloads = read_metric_frames(sys_dir + "/.nni/metrics");
  nnilib::MetricChecker checker("F1le4", json(0));
  for (const auto& p : payloads) checker.accept_text(p);
  CHECK(checker.periodical_count() == static_cast<int>(payloads.size()));
  CHECK_FALSE(checker.final_received());
}

// ---------------------------------------------------------------------------
// Legacy stdout channel (NNI 2.x remote, reuse mode)

TEST_CASE("legacy stdout: NNISDK_MEb lines among the program's own output") {
  for (const bool reuse : {false, true}) {
    INFO("reuse mode " << reuse);
    TempDir tmp("nni-stdout");
    const std::string& sys_dir = tmp.path();
    write_parameter_file(sys_dir, StandinOptions::default_record());
    Environment env = nni_legacy_environment(reuse ? "local" : "remote", "StdO1", sys_dir);
    if (reuse) env["REUSE_MODE"] = "true";
    ProcessResult r = run_probe(with_fast({"--epochs", "3"}), env);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, "channel=legacy-stdout"));
    CHECK(contains(r.out, "probe: epoch 2 reported"));  // the program's lines are kept
    const auto lines = parse_stdout_metrics(r.out);
    REQUIRE(lines.size() == 4);
    nnilib::MetricChecker checker("StdO1", json(0));
    for (const auto& l : lines) checker.accept_text(l);
    CHECK(checker.periodical_count() == 3);
    CHECK(checker.final_received());
    CHECK_FALSE(std::filesystem::exists(sys_dir + "/.nni/metrics"));
  }
}

// ---------------------------------------------------------------------------
// Standalone

TEST_CASE("standalone: parameters from the command line - one stderr line per result") {
  ProcessResult r = run_probe({"--epochs", "2", "--params", R"({"x": 0.7})"}, {});
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "channel=standalone trial=STANDALONE experiment=STANDALONE seq=0"));
  CHECK(contains(r.out, R"(parameters={"x":0.7})"));
  CHECK(contains(
      r.err, "[nnilib standalone] intermediate result 0: {\"default\": 0.35, \"loss\": 1.0}\n"));
  CHECK(contains(r.err,
                 "[nnilib standalone] intermediate result 1: {\"default\": 0.7, \"loss\": 0.5}\n"));
  CHECK(contains(r.err, "[nnilib standalone] final result: {\"default\": 0.7, \"loss\": 0.5}\n"));
  CHECK(parse_stdout_metrics(r.out).empty());
}

// ---------------------------------------------------------------------------
// The stand-in itself, spoken to directly

TEST_CASE("stand-in: PUT without Content-Type application/json is silently dropped") {
  StandinOptions o;
  o.poll_timeout = 300ms;
  NniStandin nni(o);
  httplib::Client cli("127.0.0.1", nni.port());
  cli.set_read_timeout(5s);
  const std::string path = "/env/local-env/S1i7C";
  const std::string request = nnilib::encode_request_parameter_command();

  auto plain = cli.Put(path.c_str(), request, "text/plain");
  REQUIRE(plain);
  CHECK(plain->status == 200);
  CHECK(plain->body.empty());
  auto none = cli.Put(path.c_str(), request, "");
  REQUIRE(none);
  CHECK(none->status == 200);
  CHECK(nni.dropped_puts() == 2);
  CHECK(nni.parameter_requests() == 0);

  const auto t0 = std::chrono::steady_clock::now();
  auto poll = cli.Get(path.c_str());
  REQUIRE(poll);
  CHECK(poll->status == 408);  // nothing queued: the dropped requests did not count
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);

  auto json_put = cli.Put(path.c_str(), request, "application/json");
  REQUIRE(json_put);
  CHECK(json_put->status == 200);
  CHECK(json_put->body.empty());
  auto got = cli.Get(path.c_str());
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(got->body == nnilib::encode_parameter_command(StandinOptions::default_record()));
  nni.close();
  auto closed = cli.Get(path.c_str());
  REQUIRE(closed);
  CHECK(closed->status == 410);
  CHECK(nni.violations().empty());
}

TEST_CASE("stand-in: flags every metric a real NNI would choke on") {
  StandinOptions o;
  o.poll_timeout = 300ms;
  NniStandin nni(o);
  httplib::Client cli("127.0.0.1", nni.port());
  cli.set_read_timeout(5s);
  const std::string path = "/env/local-env/S1i7C";
  auto put = [&](const std::string& body) {
    auto res = cli.Put(path.c_str(), body, "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);  // NNI answers 200 even to a bad command
  };
  auto metric = [&](const std::string& metric_json) {
    put(nnilib::encode_metric_command(metric_json));
  };
  put(nnilib::encode_request_parameter_command());
  REQUIRE(cli.Get(path.c_str())->status == 200);
  const std::string good0 =
      R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "PERIODICAL", "sequence": 0, "value": "0.1"})";
  metric(good0);
  metric(
      R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "PERIODICAL", "sequence": 2, "value": "0.1"})");
  metric(
      R"({"parameter_id": 0, "trial_job_id": "OTHER", "type": "PERIODICAL", "sequence": 1, "value": "0.1"})");
  metric(
      R"({"parameter_id": "0", "trial_job_id": "S1i7C", "type": "PERIODICAL", "sequence": 1, "value": "0.1"})");
  metric(
      R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "final", "sequence": 0, "value": "0.5"})");
  metric(
      R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "FINAL", "sequence": 0, "value": 0.5})");
  put(R"({"type": "metric", "metric": {"parameter_id": 0}})");
  metric(
      R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "FINAL", "sequence": 0, "value": "0.5"})");
  metric(
      R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "FINAL", "sequence": 0, "value": "0.5"})");
  put(nnilib::encode_request_parameter_command());
  put(R"({"type": "bogus"})");

  INFO(nni.summary());
  CHECK(nni.metrics().size() == 2);  // PERIODICAL 0 and the first FINAL
  const std::vector<MetricFault> expected = {
      MetricFault::kBadSequence,   MetricFault::kWrongTrialJobId, MetricFault::kParameterIdMismatch,
      MetricFault::kBadType,       MetricFault::kValueNotAString, MetricFault::kNotAString,
      MetricFault::kDuplicateFinal};
  CHECK(nni.metric_faults() == expected);
  CHECK(nni.violations().size() == expected.size() + 2);  // + second request, unknown type
}

// ---------------------------------------------------------------------------
// The Trial class in-process

namespace {

nnilib::TrialEnvironment v3_env(const std::string& url) {
  nnilib::TrialEnvironment env;
  env.platform = "local";
  env.command_channel = url;
  env.trial_job_id = "S1i7C";
  env.experiment_id = "exp01";
  env.trial_seq_id = "4";
  env.sys_dir = "/tmp/nni-sys";
  return env;
}

nnilib::ChannelOptions fast_options() {
  nnilib::ChannelOptions o;
  o.retries = 1;
  o.initial_backoff = 50ms;
  o.request_timeout = 2s;
  o.parameter_wait = 20s;
  return o;
}

}  // namespace

TEST_CASE("Trial: one parameter request - reporting rules - ids") {
  NniStandin nni;
  nnilib::Trial trial = nnilib::Trial::create(v3_env(nni.url()), json::object(), fast_options());
  CHECK(trial.channel_name() == "v3-http");
  CHECK(trial.channel_kind() == nnilib::ChannelKind::kV3Http);
  CHECK_FALSE(trial.standalone());
  CHECK(trial.trial_id() == "S1i7C");
  CHECK(trial.experiment_id() == "exp01");
  CHECK(trial.sequence_id() == 4);
  CHECK(trial.output_dir() == "/tmp/nni-sys");

  CHECK_THROWS_AS(trial.report_intermediate_result(0.5), std::logic_error);  // no parameter yet
  CHECK(nni.parameter_requests() == 0);
  const nnilib::ParameterRecord& a = trial.get_next_parameter();
  const nnilib::ParameterRecord& b = trial.get_next_parameter();
  CHECK(&a == &b);
  CHECK(a.parameters == StandinOptions::default_record().parameters);
  CHECK(trial.parameters()["lr"] == 0.001);
  CHECK(nni.parameter_requests() == 1);

  CHECK_THROWS_AS(trial.report_intermediate_result(std::nan("")), nnilib::DivergedError);
  CHECK_THROWS_AS(trial.report_intermediate_result("0.5"), std::invalid_argument);
  CHECK_THROWS_AS(trial.report_final_result(json{{"loss", 0.1}}), std::invalid_argument);
  CHECK(nni.raw_metrics().empty());  // nothing malformed was sent
  CHECK_FALSE(trial.final_reported());

  trial.report_intermediate_result(0.1);
  trial.report_intermediate_result(json{{"default", 0.2}, {"val_loss", 0.4}});
  CHECK(trial.intermediate_count() == 2);
  nnilib::Trial moved = std::move(trial);
  moved.report_final_result(json{{"default", 0.3}, {"params", 1234}});
  CHECK(moved.final_reported());
  CHECK_THROWS_AS(moved.report_final_result(0.3), std::logic_error);
  CHECK(nni.wait_for_metrics(3, 5s));
  check_clean_v3_run(nni, 2, json(0), false);
  CHECK(nni.periodical_metrics()[0].value == 0.1);
  CHECK(nni.final_metric()->value == json({{"default", 0.3}, {"params", 1234}}));
}

TEST_CASE("Trial: the environment's faults are ChannelErrors naming the variable") {
  nnilib::TrialEnvironment legacy;
  legacy.platform = "local";
  legacy.trial_job_id = "T1";
  CHECK_THROWS_WITH(nnilib::Trial::create(legacy), Catch::Contains("NNI_SYS_DIR is not set"));
  legacy.sys_dir = "/tmp";
  legacy.trial_job_id.reset();
  CHECK_THROWS_WITH(nnilib::Trial::create(legacy), Catch::Contains("NNI_TRIAL_JOB_ID is not set"));

  nnilib::TrialEnvironment env = v3_env("http://127.0.0.1:1/env/local-env/FromUrl");
  env.trial_seq_id = "x1";
  CHECK_THROWS_WITH(nnilib::Trial::create(env), Catch::Contains("NNI_TRIAL_SEQ_ID"));
  env.trial_seq_id.reset();
  env.trial_job_id.reset();
  CHECK(nnilib::Trial::create(env).trial_id() == "FromUrl");  // v3: the URL names the trial
  env.command_channel = "http:///env/local-env/T";
  CHECK_THROWS_WITH(nnilib::Trial::create(env), Catch::Contains("has no host"));
  env.command_channel = "http://127.0.0.1:99999/env/local-env/T";
  CHECK_THROWS_WITH(nnilib::Trial::create(env), Catch::Contains("bad port"));
}

TEST_CASE("Trial: a cancelled wait for the parameter ends with Interrupted") {
  StandinOptions o;
  o.parameter_delay = std::chrono::hours(1);
  o.poll_timeout = 200ms;
  NniStandin nni(o);
  std::atomic<bool> stop{false};
  nnilib::ChannelOptions options = fast_options();
  options.cancelled = [&] { return stop.load(); };
  nnilib::Trial trial = nnilib::Trial::create(v3_env(nni.url()), json::object(), options);
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  try {
    trial.get_next_parameter();
    FAIL("no exception");
  } catch (const nnilib::Interrupted& e) {
    CHECK(e.code() == nnilib::ExitCode::kInterrupted);
  }
  stopper.join();
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("Trial: a parameter wait that runs out is a ChannelError") {
  StandinOptions o;
  o.parameter_delay = std::chrono::hours(1);
  o.poll_timeout = 200ms;
  NniStandin nni(o);
  nnilib::ChannelOptions options = fast_options();
  options.parameter_wait = 500ms;
  nnilib::Trial trial = nnilib::Trial::create(v3_env(nni.url()), json::object(), options);
  CHECK_THROWS_WITH(trial.get_next_parameter(), Catch::Contains("no parameter within 500 ms"));
}

TEST_CASE("Trial: standalone returns the program's parameters") {
  nnilib::Trial trial = nnilib::Trial::create({}, json{{"lr", 0.1}});
  CHECK(trial.standalone());
  CHECK(trial.channel_name() == "standalone");
  CHECK(trial.output_dir() == ".");
  const auto& r = trial.get_next_parameter();
  CHECK(r.parameters == json{{"lr", 0.1}});
  CHECK(r.parameter_id.is_null());
  CHECK(r.parameter_source == "standalone");
  CHECK_THROWS_AS(nnilib::Trial::create({}, json::array()).get_next_parameter(),
                  nnilib::ParamError);
}

namespace {

// A program's own transport, following docs/architecture.md's "A new trial channel":
// a spool directory named by the URL (jsonl:///path/to/dir), where a scheduler that is
// not NNI leaves the parameter record (parameter.json, NNI's record format) and reads
// the results back, one encode_metric() line each (metrics.jsonl).
class SpoolChannel : public nnilib::Channel {
 public:
  explicit SpoolChannel(const std::string& url) : dir_(url.substr(std::string("jsonl://").size())) {
    if (!std::filesystem::is_directory(dir_))
      throw nnilib::ChannelError(url + ": " + dir_ + " is not a directory");
  }
  ParameterRecord receive_parameter() override {
    std::ifstream in(dir_ + "/parameter.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return nnilib::parse_parameter_record(text, dir_ + "/parameter.json");
  }
  void send_metric(const Metric&, const std::string& metric_json) override {
    std::ofstream(dir_ + "/metrics.jsonl", std::ios::app) << metric_json << "\n";
  }

 private:
  std::string dir_;
};

}  // namespace

TEST_CASE("Trial: a program's own channel, registered for its URL scheme") {
  if (nnilib::find_channel("jsonl") == nullptr) {
    nnilib::register_channel({"jsonl", "a spool directory: parameter.json in, metrics.jsonl out",
                              [](const std::string& url, const nnilib::ChannelOptions&) {
                                return std::make_unique<SpoolChannel>(url);
                              }});
  }
  TempDir dir{"spool"};
  std::ofstream(dir.path() + "/parameter.json")
      << R"({"parameter_id": "2_0_7", "parameter_source": "algorithm", "parameters": {"x": 0.25}})";
  nnilib::TrialEnvironment env;
  env.command_channel = "jsonl://" + dir.path();
  env.trial_job_id = "job42";
  env.trial_seq_id = "3";
  nnilib::Trial trial = nnilib::Trial::create(env);
  CHECK(trial.channel_kind() == nnilib::ChannelKind::kRegistered);
  CHECK(trial.channel_name() == "jsonl");
  CHECK_FALSE(trial.standalone());
  CHECK(trial.trial_id() == "job42");
  CHECK(trial.sequence_id() == 3);
  CHECK(trial.parameters() == json{{"x", 0.25}});
  trial.report_intermediate_result(0.5);
  trial.report_final_result(0.75);

  // What the scheduler reads back is NNI's metric, checked as NNI's manager checks it.
  std::ifstream in(dir.path() + "/metrics.jsonl");
  std::vector<Metric> metrics;
  for (std::string line; std::getline(in, line);)
    metrics.push_back(nnilib::validate_metric_text(line, "job42"));
  REQUIRE(metrics.size() == 2);
  CHECK(metrics[0].type == MetricType::kPeriodical);
  CHECK(metrics[0].parameter_id == "2_0_7");
  CHECK(metrics[0].value == 0.5);
  CHECK(metrics[1].type == MetricType::kFinal);
  CHECK(metrics[1].value == 0.75);

  // The channel's own error reaches the program as its ChannelError.
  env.command_channel = "jsonl:///nonexistent-spool";
  CHECK_THROWS_WITH(nnilib::Trial::create(env),
                    "jsonl:///nonexistent-spool: /nonexistent-spool is not a directory");
  // An unregistered scheme is refused before any channel is built.
  env.command_channel = "amqp://broker/queue";
  CHECK_THROWS_WITH(nnilib::Trial::create(env),
                    Catch::Contains("no channel for \"amqp://\" in this program (it knows http, "));
}

namespace {

// A hostile manager: it accepts, reads the request, then answers either one byte every
// 200 ms (a 100-byte body, headers first) or, with `flood`, a 1 GB body as fast as it can.
class DrippingManager {
 public:
  explicit DrippingManager(bool flood = false) : flood_(flood) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~DrippingManager() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/env/local-env/T0";
  }

 private:
  void serve() {
    while (!stop_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      char buf[4096];
      (void)::recv(fd, buf, sizeof buf, 0);
      const std::string head = std::string("HTTP/1.1 200 OK\r\nContent-Length: ") +
                               (flood_ ? "1000000000" : "100") + "\r\n\r\n";
      bool ok = ::send(fd, head.data(), head.size(), MSG_NOSIGNAL) > 0;
      const std::string chunk(1 << 16, '{');
      for (int i = 0; flood_ && ok && i < 1000000000 / (1 << 16) && !stop_; ++i)
        ok = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) > 0;
      for (int i = 0; !flood_ && ok && i < 100 && !stop_; ++i) {
        std::this_thread::sleep_for(200ms);
        ok = ::send(fd, " ", 1, MSG_NOSIGNAL) == 1;
      }
      ::close(fd);
    }
  }
  bool flood_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("v3: a manager that drips its answer is cut off at the request time limit") {
  DrippingManager manager;
  nnilib::ChannelOptions options = fast_options();
  options.retries = 0;
  options.request_timeout = 1000ms;
  {
    // The request_parameter PUT is answered a byte every 200 ms: a ChannelError at ~1 s,
    // not after the 20 s the drip would take (each read alone is within the timeout).
    nnilib::Trial trial = nnilib::Trial::create(v3_env(manager.url()), json::object(), options);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(trial.get_next_parameter(),
                      Catch::Contains("no complete answer within 1000 ms"));
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  }
  {
    // SIGINT (the cancel flag) ends the request at once, whatever the time limit.
    options.request_timeout = 60s;
    std::atomic<bool> stop{false};
    options.cancelled = [&] { return stop.load(); };
    nnilib::Trial trial = nnilib::Trial::create(v3_env(manager.url()), json::object(), options);
    std::thread stopper([&] {
      std::this_thread::sleep_for(300ms);
      stop = true;
    });
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(trial.get_next_parameter(), nnilib::Interrupted);
    stopper.join();
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
}

TEST_CASE("v3: a manager that answers with a gigabyte is cut off at 16 MiB") {
  DrippingManager manager(/*flood=*/true);
  nnilib::ChannelOptions options = fast_options();
  options.retries = 0;
  options.request_timeout = 10s;
  nnilib::Trial trial = nnilib::Trial::create(v3_env(manager.url()), json::object(), options);
  CHECK_THROWS_WITH(trial.get_next_parameter(),
                    Catch::Contains("the answer is larger than 16 MiB"));
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  CHECK(usage.ru_maxrss < 200 * 1024);  // KiB: this test case runs in a process of its own
}
