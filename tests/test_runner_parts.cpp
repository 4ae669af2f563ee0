// The embedded runner's parts, in process: the SQLite store, the v3 channel server
// (with a real HTTP client), trial processes, the report formatting, the config's JSON
// round trip used by resume, and the parts of a session: GPU slots, the experiment
// lock, leftover trials, trial directories, trial outcomes and environments, the
// dashboard's control requests.
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nni_standin/child_process.h"
#include "nni_standin/metric_files.h"
#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/runner/experiment_config.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/trial_process.h"
#include "nnilib/trial/progress.h"
#include "runner/channel_server.h"
#include "runner/control_requests.h"
#include "runner/experiment_directory.h"
#include "runner/gpu_scheduler.h"
#include "runner/gpu_slots.h"
#include "runner/running_trials.h"

using nlohmann::json;
using namespace std::chrono_literals;
using nnilib::standin::TempDir;

namespace {

nnilib::ExperimentRecord experiment_record() {
  nnilib::ExperimentRecord e;
  e.id = "abcd1234";
  e.name = "unit";
  e.config = {{"tuner", {{"name", "Random"}}}};
  e.seed = 42;
  e.created_at = e.updated_at = nnilib::unix_now();
  return e;
}

nnilib::TrialRecord trial_record(const std::string& id, std::int64_t seq, json params) {
  nnilib::TrialRecord t;
  t.trial_id = id;
  t.sequence = seq;
  t.parameter_id = seq;
  t.parameters = std::move(params);
  t.created_at = nnilib::unix_now();
  return t;
}

nnilib::MetricRecord metric(const std::string& id, nnilib::MetricType type, int seq, json value) {
  nnilib::MetricRecord m;
  m.trial_id = id;
  m.type = type;
  m.sequence = seq;
  m.default_value = nnilib::default_of(value);
  m.value = std::move(value);
  m.received_at = nnilib::unix_now();
  return m;
}

// The v3 metric command a trial sends.
std::string metric_command(const std::string& trial, json parameter_id, const char* type, int seq,
                           const std::string& value) {
  const std::string m = "{\"parameter_id\": " + parameter_id.dump() + ", \"trial_job_id\": \"" +
                        trial + "\", \"type\": \"" + type +
                        "\", \"sequence\": " + std::to_string(seq) +
                        ", \"value\": " + json(value).dump() + "}";
  return json{{"type", "metric"}, {"metric", m}}.dump();
}

}  // namespace

TEST_CASE(
    "store: experiment, trials, metrics and aggregates round-trip through SQLite in WAL mode") {
  TempDir dir("store");
  const std::string path = dir.path() + "/experiment.db";
  auto store = nnilib::ExperimentStore::create(path, experiment_record());
  CHECK_THROWS_AS(nnilib::ExperimentStore::create(path, experiment_record()), nnilib::UsageError);

  store.insert_trial(trial_record("AAAAA", 0, {{"lr", 0.1}, {"m", {{"_name", "cnn"}, {"k", 3}}}}));
  store.insert_trial(trial_record("BBBBB", 1, {{"lr", 0.2}, {"m", {{"_name", "mlp"}}}}));
  store.trial_started("AAAAA", 1234, 100.0);
  store.parameter_sent("AAAAA");
  store.add_metric(metric("AAAAA", nnilib::MetricType::kPeriodical, 0, 0.5));
  store.add_metric(
      metric("AAAAA", nnilib::MetricType::kPeriodical, 1, {{"default", 0.7}, {"loss", 1}}));
  store.add_metric(metric("AAAAA", nnilib::MetricType::kFinal, 0, {{"default", 0.75}}));

  // A reader while the writer is open (what `show` does during a run).
  {
    const auto reader = nnilib::ExperimentStore::open(path, true);
    const auto trials = reader.trials();
    REQUIRE(trials.size() == 2);
    const auto& a = trials[0];
    CHECK(a.trial_id == "AAAAA");
    CHECK(a.status == nnilib::kRunning);
    CHECK(a.pid == 1234);
    CHECK(a.parameter_sent);
    CHECK(a.intermediate_count == 2);
    CHECK(a.latest_default == 0.7);
    CHECK(a.final_default == 0.75);
    CHECK(a.history == std::vector<double>{0.5, 0.7});
    CHECK(a.parameters["m"]["k"] == 3);
    CHECK(trials[1].status == nnilib::kWaiting);
    CHECK(reader.metrics("AAAAA").size() == 3);
    CHECK(reader.experiment().id == "abcd1234");
    CHECK(reader.experiment().seed == 42);
  }
  std::ifstream probe(path, std::ios::binary);
  CHECK(nnilib::standin::read_whole_file(path).size() > 0);
  {
    // journal_mode is stored in the file header: bytes 18-19 are 2 for WAL.
    std::string header(100, '\0');
    probe.read(header.data(), 100);
    CHECK(static_cast<int>(header[18]) == 2);
  }

  nnilib::TrialRecord ended = *store.trial("AAAAA");
  ended.status = nnilib::kUserCanceled;
  ended.interrupted = true;
  ended.signal = SIGINT;
  ended.reason = "interrupted";
  ended.ended_at = 105.0;
  store.trial_ended(ended);
  auto t = *store.trial("AAAAA");
  CHECK(t.interrupted);
  CHECK(t.signal == SIGINT);
  CHECK(t.duration(0) == Approx(5.0));

  store.reset_trial("AAAAA");
  t = *store.trial("AAAAA");
  CHECK(t.status == nnilib::kWaiting);
  CHECK(t.attempt == 2);
  CHECK(t.intermediate_count == 0);
  CHECK_FALSE(t.final_default);
  CHECK_FALSE(t.interrupted);
  CHECK(store.metrics("AAAAA").empty());
  CHECK(store.metrics().empty());

  auto e = store.experiment();
  e.status = "DONE";
  e.end_reason = "maxTrialNumber 2 reached";
  e.elapsed_s = 12.5;
  e.sessions = 2;
  store.update_experiment(e);
  store.set_elapsed(13.0);
  const auto e2 = nnilib::ExperimentStore::open(path, true).experiment();
  CHECK(e2.status == "DONE");
  CHECK(e2.end_reason == "maxTrialNumber 2 reached");
  CHECK(e2.elapsed_s == 13.0);
  CHECK(e2.sessions == 2);
}

TEST_CASE("store: a missing or foreign file is one clear UsageError naming it") {
  TempDir dir("store");
  const std::string missing = dir.path() + "/none.db";
  CHECK_THROWS_WITH(nnilib::ExperimentStore::open(missing, true),
                    Catch::Contains(missing) && Catch::Contains("no experiment database"));
  CHECK_THROWS_AS(nnilib::ExperimentStore::open(missing, true), nnilib::UsageError);
  const std::string text = dir.path() + "/text.db";
  std::ofstream(text) << "this is not a database, just text that is long enough to be read\n";
  CHECK_THROWS_WITH(nnilib::ExperimentStore::open(text, true),
                    text + ": not an experiment database (not SQLite, or corrupt)");
  CHECK_THROWS_AS(nnilib::ExperimentStore::open(text, false), nnilib::UsageError);
}

TEST_CASE("channel server: NNI's v3 semantics for request_parameter, GET long poll, metrics") {
  nnilib::ChannelServer::Options options;
  options.poll_timeout = 200ms;
  nnilib::ChannelServer server(options);
  nnilib::ParameterRecord record;
  record.parameter_id = 7;
  record.parameter_source = "algorithm";
  record.parameters = {{"x", 0.25}};
  server.add_trial("T0001", record);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  const std::string url = server.url("T0001");
  REQUIRE_THAT(url, Catch::StartsWith(base + "/env/local-env/T0001/"));
  const std::string path = url.substr(base.size());
  CHECK(path.size() == std::string("/env/local-env/T0001/").size() + 32);  // 128-bit secret

  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(5, 0);
  // Nothing requested yet: the long poll answers 408 after poll_timeout.
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client.Get(path.c_str());
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
  CHECK(client.Get("/env/local-env/NOONE")->status == 404);
  CHECK(client.Put("/env/local-env/NOONE", "{}", "application/json")->status == 404);

  // A PUT without the JSON content type is dropped (200, as NNI), with a warning.
  r = client.Put(path.c_str(), R"({"type": "request_parameter"})", "text/plain");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.empty());
  auto events = server.wait_events(100ms);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == nnilib::ChannelEvent::Kind::kWarning);
  CHECK_THAT(events[0].message, Catch::Contains("Content-Type"));
  CHECK(client.Get(path.c_str())->status == 408);

  CHECK(client.Put(path.c_str(), R"({"type": "request_parameter"})", "application/json")->status ==
        200);
  r = client.Get(path.c_str());
  REQUIRE(r);
  REQUIRE(r->status == 200);
  const nnilib::ParameterRecord got = nnilib::parse_parameter_command(r->body, "test");
  CHECK(got.parameter_id == 7);
  CHECK(got.parameters == json{{"x", 0.25}});

  CHECK(
      client
          .Put(path.c_str(), metric_command("T0001", 7, "PERIODICAL", 0, "0.5"), "application/json")
          ->status == 200);
  CHECK(client
            .Put(path.c_str(),
                 metric_command("T0001", 7, "FINAL", 0, R"({"default": 0.6, "loss": 0.1})"),
                 "application/json")
            ->status == 200);
  events = server.wait_events(100ms);
  REQUIRE(events.size() == 4);
  CHECK(events[0].kind == nnilib::ChannelEvent::Kind::kParameterRequested);
  CHECK(events[1].kind == nnilib::ChannelEvent::Kind::kParameterSent);
  CHECK(events[2].kind == nnilib::ChannelEvent::Kind::kMetric);
  CHECK(events[2].metric.type == nnilib::MetricType::kPeriodical);
  CHECK(events[3].metric.type == nnilib::MetricType::kFinal);
  CHECK(events[3].metric.value["default"] == 0.6);

  // A second FINAL is a fault (a real NNI's tuner dies); later metrics are ignored.
  CHECK(client.Put(path.c_str(), metric_command("T0001", 7, "FINAL", 0, "0.7"), "application/json")
            ->status == 200);
  CHECK(
      client
          .Put(path.c_str(), metric_command("T0001", 7, "PERIODICAL", 1, "0.7"), "application/json")
          ->status == 200);
  events = server.wait_events(100ms);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == nnilib::ChannelEvent::Kind::kFault);
  CHECK_THAT(events[0].message, Catch::Contains("second FINAL"));

  // Closed: GET answers 410 at once, even while a poll is waiting.
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    server.close_trial("T0001");
  });
  CHECK(client.Get(path.c_str())->status == 410);
  closer.join();
  server.remove_trial("T0001");
  CHECK(client.Get(path.c_str())->status == 404);
}

TEST_CASE("channel server: every malformed metric or command becomes a fault naming the field") {
  nnilib::ChannelServer server;
  httplib::Client client("127.0.0.1", server.port());
  nnilib::ParameterRecord record;
  record.parameter_id = 0;
  struct Case {
    std::string body;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {metric_command("T0002", 0, "final", 0, "0.5"), "type is \"final\""},
      {metric_command("T0002", 0, "FINAL", 0, R"({"loss": 1})"), "no \"default\""},
      {metric_command("T0002", 0, "FINAL", 0, "NaN"), "not finite"},
      {metric_command("T0002", 3, "FINAL", 0, "0.5"), "parameter_id is 3, expected 0"},
      {metric_command("OTHER", 0, "FINAL", 0, "0.5"), "trial_job_id"},
      {metric_command("T0002", 0, "PERIODICAL", 1, "0.5"), "sequence is 1, expected 0"},
      {R"({"type": "metric", "metric": {"parameter_id": 0}})", "not a string"},
      {"not json", "not a JSON object"},
      {R"({"type": "hello"})", "unknown type \"hello\""},
  };
  for (const Case& c : cases) {
    server.add_trial("T0002", record);
    const std::string url = server.url("T0002");
    const std::string path = url.substr(url.find("/env/"));
    CHECK(client.Put(path.c_str(), c.body, "application/json")->status == 200);
    const auto events = server.wait_events(200ms);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == nnilib::ChannelEvent::Kind::kFault);
    CHECK_THAT(events[0].message, Catch::Contains(c.expected));
  }
}

namespace {

// Opens trial `id` (parameter id 0) on `server`; returns its URL path with the secret.
std::string open_trial(nnilib::ChannelServer& server, const std::string& id) {
  nnilib::ParameterRecord record;
  record.parameter_id = 0;
  server.add_trial(id, record);
  const std::string url = server.url(id);
  return url.substr(url.find("/env/"));
}

}  // namespace

TEST_CASE("channel server: only the trial's own secret URL is served") {
  nnilib::ChannelServer::Options options;
  options.poll_timeout = 100ms;
  nnilib::ChannelServer server(options);
  nnilib::ParameterRecord record;
  record.parameter_id = 0;
  server.add_trial("T0003", record);
  server.add_trial("T0004", record);
  const std::string url = server.url("T0003");
  const std::string path = url.substr(url.find("/env/"));
  CHECK(server.url("T0004") != url);
  CHECK(server.url("nobody").empty());
  httplib::Client client("127.0.0.1", server.port());
  // Without the secret, or with another trial's, or a wrong one of the same length:
  // 404, and no event reaches the runner (a forged FINAL or command changes nothing).
  const std::string t4 = server.url("T0004");
  const std::string wrong_secret =
      path.substr(0, path.size() - 1) + (path.back() == 'a' ? "b" : "a");
  for (const std::string& p :
       {std::string("/env/local-env/T0003"), "/env/local-env/T0003/" + t4.substr(t4.rfind('/') + 1),
        wrong_secret, path + "/x", std::string("/env/local-env/T0003/")}) {
    INFO(p);
    CHECK(client.Put(p.c_str(), metric_command("T0003", 0, "FINAL", 0, "0.99"), "application/json")
              ->status == 404);
    CHECK(client.Get(p.c_str())->status == 404);
  }
  CHECK(server.wait_events(50ms).empty());
  // The real URL works; a re-run of the trial gets a new secret and the old URL is dead.
  CHECK(client.Put(path.c_str(), metric_command("T0003", 0, "FINAL", 0, "0.5"), "application/json")
            ->status == 200);
  REQUIRE(server.wait_events(100ms).size() == 1);
  server.add_trial("T0003", record);
  CHECK(server.url("T0003") != url);
  CHECK(client.Get(path.c_str())->status == 404);
}

TEST_CASE("channel server: huge bodies and stalled connections cannot hold it up") {
  nnilib::ChannelServer::Options options;
  options.threads = 64;  // what the runner asks for
  nnilib::ChannelServer server(options);
  const std::string path = open_trial(server, "T0005");
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(10, 0);
  // 8 MiB declared and sent: refused (413) without being kept; the runner sees nothing.
  auto big = client.Put(path.c_str(), std::string(8 << 20, ' '), "application/json");
  REQUIRE(big);
  CHECK(big->status == 413);
  CHECK(server.wait_events(50ms).empty());

  // 50 connections from another process that send half a request and then nothing.
  std::vector<int> stalled;
  for (int i = 0; i < 50; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const std::string half = "PUT " + path + " HTTP/1.1\r\nHost: x\r\nContent-Le";
    REQUIRE(::send(fd, half.data(), half.size(), 0) == static_cast<ssize_t>(half.size()));
    stalled.push_back(fd);
  }
  // The trial's report still gets through within a few read timeouts (1 s each), not 20 s.
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client.Put(path.c_str(), metric_command("T0005", 0, "PERIODICAL", 0, "0.5"),
                      "application/json");
  const auto waited = std::chrono::steady_clock::now() - t0;
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(waited < 4s);
  CHECK(server.wait_events(100ms).size() == 1);
  for (int fd : stalled) ::close(fd);
}

TEST_CASE("channel server: a trial that reports without end is failed, not stored forever") {
  nnilib::ChannelServer::Options options;
  options.max_metrics_per_trial = 5;
  nnilib::ChannelServer server(options);
  const std::string path = open_trial(server, "T0006");
  httplib::Client client("127.0.0.1", server.port());
  for (int i = 0; i < 8; ++i) {
    CHECK(client
              .Put(path.c_str(), metric_command("T0006", 0, "PERIODICAL", i, "0.5"),
                   "application/json")
              ->status == 200);
  }
  const auto events = server.wait_events(100ms);
  REQUIRE(events.size() == 6);  // 5 results, then one fault; the rest is ignored
  CHECK(events[4].kind == nnilib::ChannelEvent::Kind::kMetric);
  CHECK(events[5].kind == nnilib::ChannelEvent::Kind::kFault);
  CHECK_THAT(events[5].message, Catch::Contains("too many results: more than 5 metrics"));
}

TEST_CASE("trial process: nothing the command started outlives it, setsid included") {
  TempDir dir("keeper");
  auto pid_in = [&](const std::string& name) {
    for (int i = 0; i < 200; ++i) {
      std::ifstream in(dir.path() + "/" + name);
      std::string text;
      if (std::getline(in, text) && !in.eof()) return static_cast<pid_t>(std::stoi(text));
      std::this_thread::sleep_for(10ms);
    }
    return pid_t{-1};
  };
  auto gone = [](pid_t pid) {
    for (int i = 0; i < 300; ++i) {
      if (::kill(pid, 0) != 0) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  nnilib::ProcessLaunch launch;
  launch.working_directory = dir.path();
  launch.environment = {{"PATH", "/usr/bin:/bin"}};
  SECTION("the command ends: what it left behind is killed, its status is the command's") {
    launch.command = "setsid sleep 300 & echo $! > a.pid; sleep 300 & echo $! > b.pid; exit 7";
    nnilib::TrialProcess p(launch);
    CHECK(p.wait().exit_code == 7);
    CHECK(gone(pid_in("a.pid")));
    CHECK(gone(pid_in("b.pid")));
  }
  SECTION("kill_group: the command and everything below it, reported as SIGKILL") {
    launch.command = "(setsid sleep 300 & echo $! > a.pid; sleep 300) ; echo never";
    nnilib::TrialProcess p(launch);
    const pid_t a = pid_in("a.pid");
    REQUIRE(a > 0);
    p.kill_group();
    CHECK(p.wait().signal == SIGKILL);
    CHECK(gone(a));
  }
  SECTION("signal(SIGKILL) is kill_group: the keeper takes everything along") {
    launch.command = "(setsid sleep 300 & echo $! > a.pid; sleep 300) ; echo never";
    nnilib::TrialProcess p(launch);
    const pid_t a = pid_in("a.pid");
    REQUIRE(a > 0);
    p.signal(SIGKILL);
    CHECK(p.wait().signal == SIGKILL);
    CHECK(gone(a));
  }
  SECTION("a signal reaches the command itself, and its death by signal is reported") {
    launch.command = "exec sleep 300";
    nnilib::TrialProcess p(launch);
    std::this_thread::sleep_for(100ms);
    p.signal(SIGTERM);
    const auto e = p.wait();
    CHECK(e.signal == SIGTERM);
    CHECK(e.describe() == "killed by SIGTERM");
  }
}

TEST_CASE("trial process: bash -c in the working directory, exact environment, files, exit codes") {
  TempDir dir("proc");
  nnilib::ProcessLaunch launch;
  launch.command = "echo \"$FOO $(pwd)\"; echo oops >&2; exit 3";
  launch.working_directory = dir.path();
  launch.stdout_path = dir.path() + "/out";
  launch.stderr_path = dir.path() + "/err";
  launch.environment = {{"FOO", "bar"}, {"PATH", "/usr/bin:/bin"}};
  nnilib::TrialProcess p(launch);
  const nnilib::ProcessExit e = p.wait();
  CHECK(e.exit_code == 3);
  CHECK(e.describe() == "exit code 3");
  CHECK(nnilib::standin::read_whole_file(dir.path() + "/out") ==
        "bar " + std::filesystem::canonical(dir.path()).string() + "\n");
  CHECK(nnilib::standin::read_whole_file(dir.path() + "/err") == "oops\n");

  // The environment is exactly what was given (NNI variables of the runner stripped).
  ::setenv("NNI_TRIAL_JOB_ID", "leak", 1);
  const auto env = nnilib::environment_without_nni();
  ::unsetenv("NNI_TRIAL_JOB_ID");
  CHECK(env.count("NNI_TRIAL_JOB_ID") == 0);
  CHECK(env.count("PATH") == 1);

  launch.working_directory = dir.path() + "/missing";
  CHECK_THROWS_WITH(nnilib::TrialProcess(launch),
                    Catch::Contains("missing") && Catch::Contains("working directory"));
}

TEST_CASE(
    "trial process: SIGINT reaches the exec'd trial, SIGKILL of the group takes its children") {
  TempDir dir("proc");
  nnilib::ProcessLaunch launch;
  launch.environment = {{"PATH", "/usr/bin:/bin"}};
  launch.stdout_path = dir.path() + "/out";
  // Traps SIGINT: exits 130 at once when signalled (wait is interruptible).
  // Each command writes a file once its trap is set: on a loaded machine bash may
  // take longer than any fixed sleep to get there.
  const std::string ready = dir.path() + "/ready";
  const auto wait_ready = [&ready] {
    for (int i = 0; i < 1000 && !std::filesystem::exists(ready); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    std::filesystem::remove(ready);
  };
  launch.command = "trap 'echo got-sigint; exit 130' INT; : > " + ready + "; sleep 30 & wait $!";
  {
    nnilib::TrialProcess p(launch);
    wait_ready();
    CHECK_FALSE(p.poll());
    p.signal(SIGINT);
    const auto e = p.wait();
    CHECK(e.exit_code == 130);
    CHECK(nnilib::standin::read_whole_file(dir.path() + "/out") == "got-sigint\n");
  }
  // Ignores SIGINT and leaves a child: the group kill ends both.
  launch.command =
      "trap '' INT; sleep 30 & echo $! > " + dir.path() + "/child; : > " + ready + "; wait";
  nnilib::TrialProcess p(launch);
  wait_ready();
  p.signal(SIGINT);
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(p.poll());
  p.kill_group();
  const auto e = p.wait();
  CHECK(e.signal == SIGKILL);
  CHECK(e.describe() == "killed by SIGKILL");
  const pid_t child = std::stoi(nnilib::standin::read_whole_file(dir.path() + "/child"));
  // Gone: no such process, or a zombie waiting for init to reap it (within 5 s).
  const auto gone = [child] {
    std::ifstream in("/proc/" + std::to_string(child) + "/stat");  // absent once reaped
    std::string stat;
    std::getline(in, stat);
    const auto state = stat.find(") ");
    return stat.empty() || (state != std::string::npos && stat[state + 2] == 'Z');
  };
  for (int i = 0; i < 500 && !gone(); ++i) std::this_thread::sleep_for(10ms);
  CHECK(gone());
}

TEST_CASE("report: parameters flattened, abbreviated, key parameters, best trial by mode") {
  const json p = {{"lr", 0.1}, {"model", {{"_name", "cnn"}, {"kernel", 3}}}};
  const auto flat = nnilib::parameter_leaves(p);
  REQUIRE(flat.size() == 3);
  CHECK(flat[1].first == "model");
  CHECK(flat[1].second == "cnn");
  CHECK(flat[2].first == "model/kernel");
  CHECK(nnilib::abbreviate_parameter("filter_size_c1") == "fsc1");
  CHECK(nnilib::abbreviate_parameter("learning_rate") == "lr");
  CHECK(nnilib::abbreviate_parameter("nb_units") == "nu");
  CHECK(nnilib::abbreviate_parameter("lr") == "lr");
  // Numbered blocks stay apart: "c1" and "c4/c", never "c" beside "c/c".
  CHECK(nnilib::abbreviate_parameter("conv1") == "c1");
  CHECK(nnilib::abbreviate_parameter("conv4/channels") == "c4/c");
  CHECK(nnilib::abbreviate_parameter("optimizer/learning_rate") == "o/lr");
  CHECK(nnilib::abbreviate_parameter("block_2024") == "b2024");
  CHECK(nnilib::abbreviate_parameters({"size_a", "speed_a"}) ==
        std::vector<std::string>{"size_a", "speed_a"});  // "sa" twice: full names

  std::vector<nnilib::TrialRecord> trials;
  for (int i = 0; i < 4; ++i) {
    auto t = trial_record("T000" + std::to_string(i), i,
                          {{"fixed", 1}, {"learning_rate", 0.001 * (i + 1)}});
    t.status = i == 3 ? nnilib::kFailed : nnilib::kSucceeded;
    t.final_default = i == 3 ? 0.99 : 0.5 + 0.1 * (i % 3 == 1 ? 2 : i);
    t.started_at = 1000.0;
    t.ended_at = 1010.0 + i;
    t.intermediate_count = 2;
    t.history = {0.1, *t.final_default};
    trials.push_back(t);
  }
  CHECK(nnilib::key_parameters(trials) == std::vector<std::string>{"learning_rate"});
  // Finals: 0.5, 0.7, 0.7, (failed 0.99): the earliest of the tie, never a failed trial.
  CHECK(nnilib::best_trial(trials, nnilib::OptimizeMode::kMaximize)->trial_id == "T0001");
  CHECK(nnilib::best_trial(trials, nnilib::OptimizeMode::kMinimize)->trial_id == "T0000");
  CHECK(nnilib::trial_best_value(trials[0], nnilib::OptimizeMode::kMinimize) == 0.1);

  nnilib::TableOptions options;
  options.width = 80;
  const std::string table = nnilib::format_trials_table(trials, options);
  std::istringstream lines(table);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) CHECK(line.size() <= 80);
  CHECK(n == 6);  // header, 4 trials, legend
  CHECK_THAT(table, Catch::Contains("*  1 T0001") && Catch::Contains("lr=0.002") &&
                        Catch::Contains("lr=learning_rate") && !Catch::Contains("fixed"));
  options.max_rows = 2;
  CHECK_THAT(nnilib::format_trials_table(trials, options), Catch::Contains("2 more trial(s)"));

  trials[0].reason = "exit code 3: bad, \"quoted\"";
  const std::string csv = nnilib::export_csv(trials);
  CHECK_THAT(csv, Catch::StartsWith("sequence,trial_id,status,attempt,parameter_id,fixed,"
                                    "learning_rate,intermediate_count"));
  CHECK_THAT(csv, Catch::Contains("\"exit code 3: bad, \"\"quoted\"\"\""));
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);

  CHECK(nnilib::format_metric(0.91234) == "0.9123");
  CHECK(nnilib::format_metric(std::nullopt) == "-");
  CHECK(nnilib::format_duration(75) == "1:15");
  CHECK(nnilib::format_duration(3725) == "1:02:05");
  CHECK(nnilib::format_time(0.0) == "1970-01-01T00:00:00Z");
}

TEST_CASE("report: a running trial's progress file shows in the table, a bad one is ignored") {
  TempDir dir("progress");
  auto t = trial_record("T0001", 0, {{"lr", 0.1}});
  t.status = nnilib::kRunning;
  t.started_at = 1000.0;
  const std::string trial_dir = dir.path() + "/trials/T0001";
  std::filesystem::create_directories(trial_dir);
  nnilib::TrialProgress p;
  p.epoch = 3;
  p.epochs = 9;
  p.batch = 188;
  p.batches = 391;
  p.images_per_second = 312.4;
  p.eta_seconds = 80;
  p.time = 1.7e9;
  nnilib::write_trial_progress(trial_dir, p);
  const auto back = nnilib::read_trial_progress(trial_dir);
  REQUIRE(back);
  CHECK(back->to_json() == p.to_json());
  CHECK(p.brief() == "e3/9 48% 312/s 1:20");
  nnilib::TableOptions options;
  options.width = 160;
  options.now = 1100.0;
  options.experiment_dir = dir.path();
  const std::string table = nnilib::format_trials_table({t}, options);
  CHECK_THAT(table, Catch::Contains("progress") && Catch::Contains("e3/9 48% 312/s 1:20"));
  // Without the directory (or the file) there is no progress column.
  options.experiment_dir.clear();
  CHECK_THAT(nnilib::format_trials_table({t}, options), !Catch::Contains("progress"));
  // Files other processes write are read up to a bound (nnilib/common/file_io.h).
  std::ofstream(dir.path() + "/small") << "12345";
  CHECK(nnilib::read_small_file(dir.path() + "/small", 5) == "12345");
  CHECK(!nnilib::read_small_file(dir.path() + "/small", 4));
  CHECK(!nnilib::read_small_file(dir.path() + "/none", 4));
  // What a trial writes is not trusted: too large, not an object, out of range.
  for (const std::string& bad :
       {std::string(5000, ' ') + "{}", std::string("[1]"), std::string("{\"epoch\": -1}"),
        std::string(R"({"epoch": 1, "epochs": 1, "batch": 9, "batches": 3, )"
                    R"("images_per_second": 1, "eta_seconds": 0, "time": 0})")}) {
    std::ofstream(trial_dir + "/progress.json") << bad;
    CHECK(!nnilib::read_trial_progress(trial_dir));
  }
}

TEST_CASE("experiment config: to_json and from_json round-trip (what resume reads back)") {
  TempDir dir("cfg");
  std::ofstream(dir.path() + "/space.json") << R"({"b": {"_type": "choice", "_value": [1, 2]},
                                                   "a": {"_type": "uniform", "_value": [0, 1]}})";
  std::ofstream(dir.path() + "/config.yml") << R"(
searchSpaceFile: space.json
trialCommand: exec ./t
trialConcurrency: 2
maxTrialNumber: 5
maxTrialDuration: 90s
tuner: {name: TPE, classArgs: {optimize_mode: maximize}}
assessor: {name: Medianstop, classArgs: {start_step: 2}}
trainingService: {platform: local}
)";
  const auto c = nnilib::ExperimentConfig::load(dir.path() + "/config.yml");
  CHECK(c.search_space_json.begin().key() == "b");  // order as written
  const auto r = nnilib::ExperimentConfig::from_json(
      nlohmann::ordered_json::parse(c.to_json().dump()), "stored");
  CHECK(r.to_json() == c.to_json());
  CHECK(r.max_trial_duration_s == 90);
  CHECK(r.assessor->class_args["start_step"] == 2);
  CHECK(r.search_space.dimensions().size() == 2);
  CHECK(nnilib::optimize_mode_of(r) == nnilib::OptimizeMode::kMaximize);
  auto tpe_default = r;
  tpe_default.tuner.class_args = json::object();
  tpe_default.assessor.reset();
  CHECK(nnilib::optimize_mode_of(tpe_default) == nnilib::OptimizeMode::kMinimize);  // NNI's TPE
  // The tuners read optimize_mode case-insensitively; the runner's ranking must agree
  // (it compared exactly, and best.json then held the worst trial).
  auto capitalised = r;
  capitalised.tuner.class_args["optimize_mode"] = "Minimize";
  CHECK(nnilib::optimize_mode_of(capitalised) == nnilib::OptimizeMode::kMinimize);

  auto broken = c.to_json();
  broken.erase("trialCommand");
  CHECK_THROWS_WITH(nnilib::ExperimentConfig::from_json(broken, "x.db"),
                    Catch::Contains("x.db") && Catch::Contains("trialCommand"));
}

// A fake nvidia-smi: three GPUs, another program's compute process on GPU 1.
const char* kFakeNvidiaSmi = R"BASH(#!/bin/bash
case "$1" in
  --query-gpu=index,uuid,memory.used,memory.total,utilization.gpu)
    printf '0, GPU-aaa, 4000, 16000, 30\n1, GPU-bbb, 15000, 16000, 97\n2, GPU-ccc, 0, 16000, [N/A]\n' ;;
  --query-compute-apps=gpu_uuid,pid) printf 'GPU-bbb, 4242\n' ;;
  *) echo "unexpected $*" >&2; exit 9 ;;
esac
)BASH";

TEST_CASE("GPU scheduler: nvidia-smi's CSV, NNI's preferences, shares, restrictions") {
  TempDir dir("gpus");
  const std::string smi = dir.path() + "/nvidia-smi";
  std::ofstream(smi) << kFakeNvidiaSmi;
  std::filesystem::permissions(smi, std::filesystem::perms::owner_all);
  const std::vector<nnilib::GpuInfo> info = nnilib::query_gpus(smi);
  REQUIRE(info.size() == 3);
  CHECK(info[0].uuid == "GPU-aaa");
  CHECK(info[0].memory_used == Approx(0.25));
  CHECK(info[0].utilization == Approx(0.30));
  CHECK(info[1].active);
  CHECK(!info[0].active);
  CHECK(info[2].utilization == 0);  // [N/A]

  // Whole GPUs: the idle GPU 1 is skipped (useActiveGpu false); GPU 2 first (least memory).
  nnilib::GpuScheduler whole(info, {}, false);
  CHECK(whole.usable() == 3);
  const auto a = whole.acquire(1);
  REQUIRE(a);
  CHECK(*a == std::vector<int>{2});
  CHECK(whole.acquire(1) == std::vector<int>{0});
  CHECK(!whole.acquire(1));  // GPU 1 runs another program
  whole.release({2}, 1);
  CHECK(whole.acquire(1) == std::vector<int>{2});
  CHECK(!whole.acquire(2));
  // useActiveGpu: GPU 1 counts, but an idle one is preferred.
  nnilib::GpuScheduler shared(info, {}, true);
  CHECK(shared.acquire(2) == std::vector<int>{0, 2});
  CHECK(shared.acquire(1) == std::vector<int>{1});
  // Shares (maxTrialNumberPerGpu 3): trials spread over the least held GPU, three per GPU.
  nnilib::GpuScheduler thirds(info, {0, 2}, false);
  CHECK(thirds.usable() == 2);
  for (int k = 0; k < 3; ++k) {
    CHECK(thirds.acquire(1.0 / 3) == std::vector<int>{2});
    CHECK(thirds.acquire(1.0 / 3) == std::vector<int>{0});
  }
  CHECK(!thirds.acquire(1.0 / 3));  // six trials on two GPUs
  // New readings (GPU 1 idle now, but not among gpuIndices): the holds are kept.
  auto later = info;
  later[1].active = false;
  thirds.update(later);
  CHECK(!thirds.acquire(1.0 / 3));
  thirds.release({0}, 1.0 / 3);
  CHECK(thirds.acquire(1.0 / 3) == std::vector<int>{0});

  // nvidia-smi that is missing, fails, hangs or prints nonsense: one line naming it.
  CHECK_THROWS_WITH(nnilib::query_gpus(dir.path() + "/none"),
                    dir.path() + "/none: cannot run it (No such file or directory)");
  std::ofstream(smi) << "#!/bin/bash\nexit 9\n";
  CHECK_THROWS_WITH(nnilib::query_gpus(smi), smi + ": failed (exit 9)");
  std::ofstream(smi) << "#!/bin/bash\nsleep 30\n";
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(nnilib::query_gpus(smi, std::chrono::milliseconds(300)),
                    smi + ": no answer within 0.3 s");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  std::ofstream(smi) << "#!/bin/bash\necho 'No devices were found'\n";
  CHECK_THROWS_WITH(
      nnilib::query_gpus(smi),
      Catch::StartsWith(smi + ": unexpected GPU line \"No devices were found, ...\""));
  std::ofstream(smi) << "#!/bin/bash\nyes 0123456789\n";
  CHECK_THROWS_WITH(nnilib::query_gpus(smi), smi + ": printed more than 1 MiB");
}

namespace {

// Sets an environment variable for the scope (nullptr: unset), then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("GPU slots: the config's share checked against nvidia-smi, a wait said once") {
  TempDir dir("gpuslots");
  const std::string smi = dir.path() + "/nvidia-smi";
  std::ofstream(smi) << kFakeNvidiaSmi;
  std::filesystem::permissions(smi, std::filesystem::perms::owner_all);
  ScopedEnv fake("NNILIB_NVIDIA_SMI", smi.c_str());
  nnilib::ExperimentConfig config;
  config.config_path = "c.yml";
  CHECK(!nnilib::GpuSlots::open(config));  // trialGpuNumber unset: trials see every GPU
  config.trial_gpu_number = 0;
  CHECK(!nnilib::GpuSlots::open(config));
  config.trial_gpu_number = 1;
  auto slots = nnilib::GpuSlots::open(config);
  REQUIRE(slots);
  std::vector<std::string> notes;
  auto note = [&notes](const std::string& line) { notes.push_back(line); };
  CHECK(slots->acquire(note) == std::vector<int>{2});
  CHECK(slots->acquire(note) == std::vector<int>{0});
  CHECK(!slots->acquire(note));  // GPU 1 runs another program
  CHECK(!slots->acquire(note));
  CHECK(notes == std::vector<std::string>{"waiting for a free GPU"});
  slots->release({2});
  CHECK(slots->acquire(note) == std::vector<int>{2});
  // maxTrialNumberPerGpu 2: two trials per GPU.
  config.max_trial_number_per_gpu = 2;
  auto halves = nnilib::GpuSlots::open(config);
  REQUIRE(halves);
  CHECK(halves->acquire(note) == std::vector<int>{2});
  CHECK(halves->acquire(note) == std::vector<int>{0});
  CHECK(halves->acquire(note) == std::vector<int>{2});
  CHECK(halves->acquire(note) == std::vector<int>{0});
  CHECK(!halves->acquire(note));

  config.max_trial_number_per_gpu = 1;
  config.trial_gpu_number = 4;
  CHECK_THROWS_WITH(nnilib::GpuSlots::open(config),
                    "c.yml: trialGpuNumber 4 needs 4 GPU(s) per trial; 3 can be used (GPUs 0,1,2)");
  config.trial_gpu_number = 1;
  config.gpu_indices = {5};
  CHECK_THROWS_WITH(nnilib::GpuSlots::open(config),
                    "c.yml: gpuIndices names GPU 5, which nvidia-smi does not list (GPUs 0,1,2)");
  config.gpu_indices = {0};
  config.trial_gpu_number = 2;
  CHECK_THROWS_WITH(
      nnilib::GpuSlots::open(config),
      "c.yml: trialGpuNumber 2 needs 2 GPU(s) per trial; 1 can be used (GPUs 0,1,2, gpuIndices)");
  ScopedEnv missing("NNILIB_NVIDIA_SMI", (dir.path() + "/none").c_str());
  CHECK_THROWS_WITH(nnilib::GpuSlots::open(config),
                    "c.yml: trialGpuNumber 2 needs this machine's GPUs, and " + dir.path() +
                        "/none: cannot run it (No such file or directory)");
}

TEST_CASE("experiment lock: one runner per directory, the holder's pid named, released with it") {
  TempDir dir("lock");
  const nnilib::ExperimentPaths paths{dir.path()};
  CHECK(!nnilib::experiment_running(dir.path()));
  {
    nnilib::ExperimentLock lock(paths);
    CHECK(nnilib::experiment_running(dir.path()));
    // flock: a second open of the file conflicts, in this process too.
    CHECK_THROWS_WITH(nnilib::ExperimentLock(paths),
                      dir.path() + ": the experiment is being run by another fmnist-nas (pid " +
                          std::to_string(::getpid()) + "); stop it first");
  }
  CHECK(!nnilib::experiment_running(dir.path()));
  nnilib::ExperimentLock again(paths);
  CHECK_THROWS_AS(nnilib::ExperimentLock(nnilib::ExperimentPaths{dir.path() + "/missing"}),
                  nnilib::IoError);
}

TEST_CASE("leftover trials: only this experiment's trial processes are killed") {
  using nnilib::standin::ChildProcess;
  ChildProcess ours({"/bin/sleep", "30"},
                    {{"NNI_EXP_ID", "exp12345"}, {"NNI_TRIAL_JOB_ID", "Ab1Cd"}});
  ChildProcess not_a_trial({"/bin/sleep", "30"}, {{"NNI_EXP_ID", "exp12345"}});
  ChildProcess other({"/bin/sleep", "30"},
                     {{"NNI_EXP_ID", "other123"}, {"NNI_TRIAL_JOB_ID", "Zz9Yy"}});
  CHECK(nnilib::kill_leftover_trials("exp12345") == 1);
  const auto killed = ours.wait(5s);
  CHECK(killed.term_signal == SIGKILL);
  CHECK(!killed.timed_out);
  CHECK(::kill(not_a_trial.pid(), 0) == 0);
  CHECK(::kill(other.pid(), 0) == 0);
  CHECK(nnilib::kill_leftover_trials("exp12345") == 0);
}

TEST_CASE("trial directory: created, an earlier attempt's logs kept, its stderr's last line") {
  TempDir dir("trialdir");
  const nnilib::ExperimentPaths paths{dir.path()};
  nnilib::TrialRecord t = trial_record("Ab1Cd", 0, json::object());
  const std::string d = nnilib::prepare_trial_directory(paths, t);
  CHECK(d == dir.path() + "/trials/Ab1Cd");
  CHECK(std::filesystem::is_directory(d));
  std::ofstream(d + "/trial.stdout") << "first attempt\n";
  std::ofstream(d + "/trial.stderr") << "line 1\nthe last line  \r\n\n  \n";
  CHECK(nnilib::last_line(d + "/trial.stderr") == "the last line");
  CHECK(nnilib::last_line(d + "/none") == "");
  t.attempt = 2;
  CHECK(nnilib::prepare_trial_directory(paths, t) == d);
  CHECK(!std::filesystem::exists(d + "/trial.stdout"));
  CHECK(nnilib::standin::read_whole_file(d + "/trial.stdout.1") == "first attempt\n");
  CHECK(std::filesystem::exists(d + "/trial.stderr.1"));
  std::ofstream(d + "/long") << std::string(300, 'x') << "\n";
  const std::string cut = nnilib::last_line(d + "/long");
  CHECK(cut.size() == 200);
  CHECK(cut.substr(197) == "...");
  // Only the last 4 KiB are read: a huge log costs nothing.
  std::ofstream(d + "/big") << std::string(1 << 20, 'y') << "\nend\n";
  CHECK(nnilib::last_line(d + "/big") == "end");

  std::vector<nnilib::TrialRecord> trials;
  for (int k = 0; k < 300; ++k) {
    const std::string id = nnilib::new_trial_id(trials);
    CHECK(id.size() == 5);
    CHECK(id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
          std::string::npos);
    CHECK(std::none_of(trials.begin(), trials.end(),
                       [&](const nnilib::TrialRecord& r) { return r.trial_id == id; }));
    trials.push_back(trial_record(id, k, json::object()));
  }
}

TEST_CASE("trial outcome: NNI's status for every stop cause and exit") {
  using nnilib::StopCause;
  const nnilib::ProcessExit ok{0, 0}, failed{3, 0}, sigint{-1, SIGINT}, segv{-1, SIGSEGV};
  auto outcome = [](StopCause cause, const nnilib::ProcessExit& exit, bool final_received) {
    const auto o = nnilib::trial_outcome(cause, "why", exit, final_received, "stderr says");
    return o.status + " | " + o.reason + (o.interrupted ? " | interrupted" : "");
  };
  // Not asked to stop.
  CHECK(outcome(StopCause::kNone, ok, true) == "SUCCEEDED | ");
  CHECK(outcome(StopCause::kNone, ok, false) == "SUCCEEDED | ");
  CHECK(outcome(StopCause::kNone, failed, true) == "FAILED | exit code 3: stderr says");
  CHECK(outcome(StopCause::kNone, segv, false) == "FAILED | killed by SIGSEGV: stderr says");
  CHECK(outcome(StopCause::kNone, sigint, false) ==
        "USER_CANCELED | killed by SIGINT (not sent by the runner)");
  CHECK(nnilib::trial_outcome(StopCause::kNone, "", failed, false, "").reason == "exit code 3");
  // Asked to stop: a trial that finished anyway (exit 0 with its final result) succeeded,
  // except when the assessor or maxTrialDuration stopped it, or it broke the protocol.
  for (StopCause cause : {StopCause::kRunnerStop, StopCause::kUserCancel, StopCause::kReserve})
    CHECK(outcome(cause, ok, true) == "SUCCEEDED | ");
  CHECK(outcome(StopCause::kAssessor, ok, true) == "EARLY_STOPPED | why");
  CHECK(outcome(StopCause::kTrialDuration, ok, true) == "EARLY_STOPPED | why");
  CHECK(outcome(StopCause::kFault, ok, true) == "FAILED | why");
  // The runner stopped it: it runs again on resume.
  CHECK(outcome(StopCause::kRunnerStop, sigint, false) ==
        "USER_CANCELED | why; resume runs it again | interrupted");
  CHECK(outcome(StopCause::kRunnerStop, ok, false) ==
        "USER_CANCELED | why; resume runs it again | interrupted");
  CHECK(outcome(StopCause::kUserCancel, sigint, true) == "USER_CANCELED | why");
  CHECK(outcome(StopCause::kReserve, sigint, true) == "EARLY_STOPPED | why");
  CHECK(outcome(StopCause::kAssessor, failed, false) == "EARLY_STOPPED | why");
}

TEST_CASE("trial environment: the cores shared among trials unless the user set threads") {
  ScopedEnv omp("OMP_NUM_THREADS", nullptr), mkl("MKL_NUM_THREADS", nullptr),
      leak("NNI_EXP_ID", "from-outside");
  int threads = -1;
  auto env = nnilib::trial_base_environment(8, 3, threads);
  CHECK(threads == 2);
  CHECK(env.at("OMP_NUM_THREADS") == "2");
  CHECK(env.at("MKL_NUM_THREADS") == "2");
  CHECK(env.count("NNI_EXP_ID") == 0);  // never NNI's variables of the runner's own
  nnilib::trial_base_environment(1, 4, threads);
  CHECK(threads == 1);
  {
    ScopedEnv empty("OMP_NUM_THREADS", "");  // counts as unset
    ScopedEnv user_mkl("MKL_NUM_THREADS", "5");
    env = nnilib::trial_base_environment(4, 1, threads);
    CHECK(threads == 4);
    CHECK(env.at("OMP_NUM_THREADS") == "4");
    CHECK(env.at("MKL_NUM_THREADS") == "5");
  }
  ScopedEnv user("OMP_NUM_THREADS", "3");
  env = nnilib::trial_base_environment(8, 2, threads);
  CHECK(threads == 0);  // the user's
  CHECK(env.at("OMP_NUM_THREADS") == "3");
  CHECK(env.count("MKL_NUM_THREADS") == 0);
}

TEST_CASE("control requests: applied in order, each answered in the table, refusals named") {
  TempDir dir("control");
  auto store = nnilib::ExperimentStore::create(dir.path() + "/experiment.db", experiment_record());
  struct Target : nnilib::ControlTarget {
    std::vector<std::string> calls;
    std::string cancel_trial(const std::string& id) override {
      calls.push_back("cancel " + id);
      return "trial 1 " + id + " canceled";
    }
    std::string stop_experiment() override {
      calls.push_back("stop");
      return "experiment stopped";
    }
    std::string change_limits(const nnilib::ExperimentLimits& change) override {
      calls.push_back("limits");
      if (change.trial_concurrency) throw nnilib::ParamError("trialConcurrency too high");
      return "limits set: " + change.describe();
    }
  } target;
  auto request = [&store](const std::string& action, const std::string& on, json value) {
    nnilib::ControlRecord c;
    c.action = action;
    c.target = on;
    c.value = std::move(value);
    c.requested_at = nnilib::unix_now();
    return store.request_control(c);
  };
  request("cancel", "Ab1Cd", nullptr);
  request("limits", "", json{{"maxTrialNumber", 5}});
  request("limits", "", json{{"bogus", 1}});
  request("limits", "", json{{"trialConcurrency", 9}});
  request("explode", "", nullptr);
  request("stop", "", nullptr);
  nnilib::ControlRequests control(std::chrono::hours(1));
  const std::vector<std::string> results = control.poll(store, target);
  CHECK(results ==
        std::vector<std::string>{"trial 1 Ab1Cd canceled", "limits set: maxTrialNumber 5",
                                 "refused: limits: unknown field \"bogus\" (maxTrialNumber, "
                                 "maxExperimentDuration, trialConcurrency)",
                                 "refused: trialConcurrency too high",
                                 "refused: unknown action \"explode\"", "experiment stopped"});
  CHECK(target.calls == std::vector<std::string>{"cancel Ab1Cd", "limits", "limits", "stop"});
  CHECK(store.pending_controls().empty());
  const auto recorded = store.controls();
  REQUIRE(recorded.size() == results.size());
  for (std::size_t k = 0; k < results.size(); ++k) {
    CHECK(recorded[k].result == results[k]);
    CHECK(recorded[k].applied_at);
  }
  // Within the period the table is not read again: a new request waits for the next.
  request("stop", "", nullptr);
  CHECK(control.poll(store, target).empty());
  CHECK(store.pending_controls().size() == 1);
  nnilib::ControlRequests every_pass(std::chrono::milliseconds(0));
  CHECK(every_pass.poll(store, target) == std::vector<std::string>{"experiment stopped"});
  CHECK(every_pass.poll(store, target).empty());
}
