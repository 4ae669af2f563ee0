// The dashboard (docs/dashboard.md) end to end: real fmnist-nas processes serving real
// experiments (bash+curl trials) over HTTP on 127.0.0.1; NNI's REST answers compared
// with responses recorded from a real NNI 3.0 (tests/fixtures/nni-rest/).
#include <catch2/catch.hpp>

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

#include "dashboard_support.h"
#include "nni_standin/child_process.h"
#include "nni_standin/metric_files.h"
#include "nnilib/common/error.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/runner.h"

using nlohmann::json;
using namespace std::chrono_literals;
using nnilib::standin::ChildProcess;
using nnilib::standin::TempDir;
using namespace dashboard_test;

namespace {

// `ours` has every key of `recorded` (recursively; the first element of arrays) with a
// value of the same JSON type. Returns the first difference, "" when none.
std::string same_shape(const json& recorded, const json& ours, const std::string& where) {
  auto kind = [](const json& j) {
    return j.is_number() ? std::string("number") : std::string(j.type_name());
  };
  if (kind(recorded) != kind(ours))
    return where + ": " + kind(ours) + " where NNI has " + kind(recorded);
  if (recorded.is_object()) {
    for (const auto& [key, value] : recorded.items()) {
      if (!ours.contains(key)) return where + ": no key " + key;
      if (key == "searchSpace" || key == "classArgs") continue;  // the experiment's own content
      if (auto d = same_shape(value, ours[key], where + "." + key); !d.empty()) return d;
    }
  }
  if (recorded.is_array() && !recorded.empty()) {
    if (ours.empty()) return where + ": empty where NNI has elements";
    return same_shape(recorded[0], ours[0], where + "[0]");
  }
  return "";
}

json fixture(const std::string& name) {
  return json::parse(nnilib::standin::read_whole_file(std::string(NNILIB_SOURCE_DIR) +
                                                      "/tests/fixtures/nni-rest/" + name));
}

}  // namespace

TEST_CASE("dashboard: ExperimentLimits::parse reads a limits request and names what is wrong") {
  const auto c = nnilib::ExperimentLimits::parse(
      json{{"maxTrialNumber", 50}, {"maxExperimentDuration", "1.5h"}, {"trialConcurrency", 3}});
  CHECK(*c.max_trial_number == 50);
  CHECK(*c.max_experiment_duration_s == 5400);
  CHECK(*c.trial_concurrency == 3);
  CHECK(c.to_json() ==
        json{{"maxTrialNumber", 50}, {"maxExperimentDuration", 5400}, {"trialConcurrency", 3}});
  CHECK(c.describe() == "maxTrialNumber 50, maxExperimentDuration 1:30:00, trialConcurrency 3");
  // The one place a change merges into the experiment's limits: what is set replaces.
  nnilib::ExperimentConfig config;
  config.max_trial_number = 10;
  config.max_experiment_duration_s = 60;
  config.apply(nnilib::ExperimentLimits{std::nullopt, 120, std::nullopt});
  CHECK(*config.max_trial_number == 10);
  CHECK(*config.max_experiment_duration_s == 120);
  CHECK(config.trial_concurrency == 1);
  config.apply(c);
  CHECK(*config.max_trial_number == 50);
  CHECK(*config.max_experiment_duration_s == 5400);
  CHECK(config.trial_concurrency == 3);
  CHECK(*nnilib::ExperimentLimits::parse(json{{"maxExperimentDuration", 90}})
             .max_experiment_duration_s == 90);
  auto error = [](const json& j) {
    try {
      nnilib::ExperimentLimits::parse(j);
    } catch (const nnilib::ParamError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error(json::object()), Catch::Contains("expected an object"));
  CHECK_THAT(error(json{{"maxTrialNumber", 0}}), Catch::Contains("maxTrialNumber must be"));
  CHECK_THAT(error(json{{"maxTrialNumber", 2.5}}), Catch::Contains("maxTrialNumber must be"));
  CHECK_THAT(error(json{{"trialConcurrency", 65}}), Catch::Contains("trialConcurrency must be"));
  CHECK_THAT(error(json{{"maxExperimentDuration", "soon"}}), Catch::Contains("bad duration"));
  CHECK_THAT(error(json{{"maxTrials", 3}}), Catch::Contains("unknown field \"maxTrials\""));
}

TEST_CASE(
    "dashboard: serve shows a finished experiment read-only, NNI's REST shapes as NNI 3.0's") {
  Experiment e(3, 1, "STEPS=3");
  const auto done = nnilib::standin::run_process(e.run_argv({"--no-dashboard"}), {}, 120s);
  REQUIRE(done.exit_code == 0);
  const auto db_before = nnilib::standin::read_whole_file(e.exp() + "/experiment.db");

  ChildProcess serve({NNILIB_FMNIST_NAS, "serve", e.exp(), "--port", "0"}, {});
  const int port = wait_for_port(serve);
  httplib::Client c("127.0.0.1", port);

  // The dashboard's API.
  const json list = get_json(c, "/api/experiments");
  CHECK(list["read_only"] == true);
  REQUIRE(list["experiments"].size() == 1);
  const std::string id = list["experiments"][0]["id"];
  CHECK(list["experiments"][0]["trials"] == 3);
  CHECK(list["experiments"][0]["status"] == "DONE");

  const json snap = get_json(c, "/api/experiments/" + id);
  CHECK(snap["control"] == false);
  CHECK(snap["running"] == false);
  CHECK(snap["counts"]["SUCCEEDED"] == 3);
  CHECK(snap["limits"]["maxTrialNumber"] == 3);
  CHECK(snap["tuner"] == "TPE");
  CHECK(snap["assessor"] == "Medianstop");
  REQUIRE(snap["trials"].size() == 3);
  const json& t0 = snap["trials"][0];
  CHECK(t0["final"] == Approx(0.80));
  CHECK(t0["test_accuracy"] == Approx(0.80));
  CHECK(t0["params"] == 1234);
  CHECK(t0["epochs"] == 3);
  CHECK(t0["flat"].contains("model"));
  CHECK(t0["progress"].is_null());
  CHECK(snap["best"]["value"] == Approx(0.82));
  REQUIRE(!snap["best_curve"].empty());
  double last = 0;
  for (const json& p : snap["best_curve"]) {
    CHECK(p["value"].get<double>() > last);
    last = p["value"];
  }
  CHECK(last == Approx(0.82));

  const std::string trial = t0["id"];
  const json detail = get_json(c, "/api/experiments/" + id + "/trials/" + trial);
  CHECK(detail["keys"] == json::array({"default", "val_loss"}));
  CHECK(detail["intermediate"].size() == 3);
  CHECK(detail["final_value"]["test_accuracy"] == Approx(0.80));
  CHECK_THAT(detail["stdout_tail"].get<std::string>(), Catch::Contains("done x=0.80"));
  CHECK_THAT(detail["stderr_tail"].get<std::string>(), Catch::Contains("a warning on stderr"));

  // The pages and Chart.js come from the binary.
  auto page = c.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK_THAT(page->body, Catch::Contains("static/app.js"));
  auto chart = c.Get("/static/chart.js");
  REQUIRE(chart);
  CHECK_THAT(chart->body, Catch::Contains("Chart.js v3"));

  // Errors: one line, the right status.
  CHECK_THAT(get_json(c, "/api/experiments/nosuchid", 404)["error"].get<std::string>(),
             Catch::Contains("no experiment"));
  CHECK_THAT(
      get_json(c, "/api/experiments/" + id + "/trials/XXXXX", 404)["error"].get<std::string>(),
      Catch::Contains("no trial"));
  get_json(c, "/api/nothing", 404);
  auto refused = post(c, "/api/experiments/" + id + "/stop", "{}");
  REQUIRE(refused);
  CHECK(refused->status == 403);
  CHECK_THAT(refused->body, Catch::Contains("read-only"));
  httplib::Client rebinding("127.0.0.1", port);
  rebinding.set_default_headers({{"Host", "attacker.example:" + std::to_string(port)}});
  auto foreign = rebinding.Get("/api/experiments");
  REQUIRE(foreign);
  CHECK(foreign->status == 403);

  // NNI's REST API, shape for shape with a real NNI 3.0's answers.
  const std::string nni = "/api/v1/nni/";
  CHECK(get_json(c, nni + "check-status") == json{{"status", "VIEWED"}, {"errors", json::array()}});
  for (const auto& [path, file] : std::vector<std::pair<std::string, std::string>>{
           {"check-status", "check-status.json"},
           {"experiment", "experiment.json"},
           {"trial-jobs", "trial-jobs.json"},
           {"trial-jobs/" + trial, "trial-job-one.json"},
           {"metric-data", "metric-data.json"},
           {"metric-data/" + trial, "metric-data-one.json"},
           {"metric-data-latest", "metric-data-latest.json"},
           {"experiments-info", "experiments-info.json"}}) {
    const json ours = get_json(c, nni + path);
    INFO(path << ": " << ours.dump().substr(0, 400));
    CHECK(same_shape(fixture(file), ours, path) == "");
  }
  // The details NNI's web UI relies on: string parameter ids, ms times, data that is a
  // JSON string of the reported JSON, hyperParameters as JSON strings.
  const json metrics = get_json(c, nni + "metric-data/" + trial);
  REQUIRE(metrics.size() == 4);
  CHECK(metrics[0]["parameterId"] == "0");
  CHECK(metrics[0]["timestamp"].get<double>() > 1e12);
  const json data =
      json::parse(json::parse(metrics[0]["data"].get<std::string>()).get<std::string>());
  CHECK(data == json{{"default", 0.8}, {"val_loss", 0.0}});
  CHECK_THAT(metrics[3]["data"].get<std::string>(), Catch::Contains("\\\"test_accuracy\\\": 0.8"));
  const json job = get_json(c, nni + "trial-jobs/" + trial);
  CHECK(json::parse(job["hyperParameters"][0].get<std::string>())["parameter_id"] == 0);
  CHECK(get_json(c, nni + "metric-data-range/1/2").size() == 8);
  CHECK(get_json(c, nni + "trial-jobs?status=FAILED").empty());
  CHECK(get_json(c, nni + "trial-jobs/XXXXX", 404).contains("error"));
  auto log = c.Get((nni + "trial-file/" + trial + "/trial.log").c_str());
  REQUIRE(log);
  CHECK_THAT(log->body, Catch::Contains("done x=0.80"));
  auto kill = c.Delete((nni + "trial-jobs/" + trial).c_str());
  REQUIRE(kill);
  CHECK(kill->status == 403);

  // Nothing of it wrote the database.
  CHECK(nnilib::standin::read_whole_file(e.exp() + "/experiment.db") == db_before);

  // The report: one file, everything inlined.
  const std::string html = e.dir.path() + "/report.html";
  const auto report =
      nnilib::standin::run_process({NNILIB_FMNIST_NAS, "report", e.exp(), "--html", html}, {}, 60s);
  REQUIRE(report.exit_code == 0);
  const std::string text = nnilib::standin::read_whole_file(html);
  CHECK_THAT(text, Catch::Contains("window.NNILIB_REPORT"));
  CHECK_THAT(text, Catch::Contains(trial));
  CHECK_THAT(text, Catch::Contains("Chart.js v3"));
  CHECK_THAT(text, !Catch::Contains("src=\"static/") && !Catch::Contains("href=\"static/"));
  const auto bad = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "report", e.dir.path() + "/nope", "--html", html}, {}, 60s);
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("nope"));
}

TEST_CASE("dashboard: a run's dashboard is live and its controls reach the runner") {
  Experiment e(6, 1, "STEPS=200 SLEEP=0.1");
  ChildProcess run(e.run_argv({"--port", "0"}), {});
  const auto [port, key] = wait_for_address(run);
  REQUIRE(key.size() == 32);
  httplib::Client c("127.0.0.1", port);
  // The page's requests carry the key of the printed address; one without it is refused.
  httplib::Client keyless("127.0.0.1", port);
  c.set_default_headers({{"X-Control-Key", key}});
  std::string id;
  REQUIRE(eventually([&] {
    auto r = c.Get("/api/experiments");
    if (!r || r->status != 200) return false;
    id = json::parse(r->body)["experiments"][0]["id"];
    return true;
  }));
  const std::string api = "/api/experiments/" + id;
  auto snapshot = [&] { return get_json(c, api); };

  // Live: results arrive while we watch (the snapshot is at most a second old).
  json s;
  REQUIRE(eventually([&] {
    s = snapshot();
    return !s["trials"].empty() && s["trials"][0]["epochs"].get<int>() >= 2;
  }));
  CHECK(s["running"] == true);
  CHECK(s["control"] == true);
  const int seen = s["trials"][0]["epochs"];
  REQUIRE(eventually([&] { return snapshot()["trials"][0]["epochs"].get<int>() > seen + 3; }));

  // Bad control requests: refused with the reason, nothing recorded.
  auto r = post(keyless, api + "/stop", "{}");
  REQUIRE(r);
  CHECK(r->status == 403);
  CHECK_THAT(r->body, Catch::Contains("control needs the key"));
  httplib::Client wrong_key("127.0.0.1", port);
  wrong_key.set_default_headers({{"X-Control-Key", std::string(32, '0')}});
  r = post(wrong_key, api + "/stop", "{}");
  REQUIRE(r);
  CHECK(r->status == 403);
  r = post(c, api + "/limits", R"({"maxTrialNumber": 2})", "text/plain");
  REQUIRE(r);
  CHECK(r->status == 415);
  r = post(c, api + "/limits", R"({"maxTrialNumber": 0})");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->body, Catch::Contains("maxTrialNumber must be"));
  r = post(c, api + "/limits", "not json");
  REQUIRE(r);
  CHECK(r->status == 400);
  r = post(c, api + "/trials/XXXXX/cancel", "{}");
  REQUIRE(r);
  CHECK(r->status == 404);
  httplib::Client cross("127.0.0.1", port);
  cross.set_default_headers({{"Origin", "http://evil.example"}, {"X-Control-Key", key}});
  r = cross.Post((api + "/stop").c_str(), "{}", "application/json");
  REQUIRE(r);
  CHECK(r->status == 403);
  CHECK(e.store().controls().empty());

  // Limits: recorded, applied by the runner, kept in the stored config.
  r = post(c, api + "/limits", R"({"maxTrialNumber": 3, "maxExperimentDuration": "2h"})");
  REQUIRE(r);
  REQUIRE(r->status == 202);
  const std::int64_t request = json::parse(r->body)["request"];
  REQUIRE(eventually([&] {
    const auto controls = e.store().controls();
    return !controls.empty() && controls.back().id == request && controls.back().applied_at;
  }));
  CHECK_THAT(e.store().controls().back().result, Catch::Contains("maxTrialNumber 3"));
  s = snapshot();
  CHECK(s["limits"]["maxTrialNumber"] == 3);
  CHECK(s["limits"]["maxExperimentDuration"] == 7200);
  CHECK(e.store().experiment().config["maxTrialNumber"] == 3);

  // Cancel the running trial: USER_CANCELED, and the next one starts.
  const std::string first = s["trials"][0]["id"];
  r = post(c, api + "/trials/" + first + "/cancel", "{}");
  REQUIRE(r);
  REQUIRE(r->status == 202);
  REQUIRE(eventually([&] {
    const auto t = e.store().trial(first);
    return t && t->status == nnilib::kUserCanceled;
  }));
  CHECK(e.store().trial(first)->reason == "canceled from the dashboard");
  r = post(c, api + "/trials/" + first + "/cancel", "{}");
  REQUIRE(r);
  CHECK(r->status == 409);

  // NNI's REST control of the same experiment: kill the second trial, 200 as NNI.
  std::string second;
  REQUIRE(eventually([&] {
    const json now = snapshot();
    if (now["trials"].size() < 2 || now["trials"][1]["status"] != "RUNNING") return false;
    second = now["trials"][1]["id"];
    return true;
  }));
  // (NNI's tools pass the key as the address's query parameter.)
  CHECK(keyless.Delete(("/api/v1/nni/trial-jobs/" + second).c_str())->status == 403);
  auto killed = keyless.Delete(("/api/v1/nni/trial-jobs/" + second + "?control=" + key).c_str());
  REQUIRE(killed);
  CHECK(killed->status == 200);
  REQUIRE(eventually([&] { return e.store().trial(second)->status == nnilib::kUserCanceled; }));

  // Stop: the experiment ends STOPPED (resumable), the process exits as interrupted.
  r = post(c, api + "/stop", "{}");
  REQUIRE(r);
  REQUIRE(r->status == 202);
  const auto result = run.wait(60s);
  CHECK(result.exit_code == static_cast<int>(nnilib::ExitCode::kInterrupted));
  CHECK(e.store().experiment().status == "STOPPED");
  CHECK_THAT(e.store().experiment().end_reason, Catch::Contains("stopped from the dashboard"));
  CHECK_THAT(result.out, Catch::Contains("fmnist-nas resume"));
}

TEST_CASE("dashboard: a taken port fails serve, naming it, and a run goes on without") {
  httplib::Server blocker;
  const int taken = blocker.bind_to_any_port("127.0.0.1");
  REQUIRE(taken > 0);
  std::thread listening([&] { blocker.listen_after_bind(); });
  struct Stop {
    httplib::Server& s;
    std::thread& t;
    ~Stop() {
      s.stop();
      t.join();
    }
  } stop{blocker, listening};
  Experiment e(1, 1, "STEPS=1");
  const auto run =
      nnilib::standin::run_process(e.run_argv({"--port", std::to_string(taken)}), {}, 60s);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.err,
             Catch::Contains("warning: no dashboard") && Catch::Contains(std::to_string(taken)));
  CHECK(e.store().trials().size() == 1);
  const auto failed = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "serve", e.exp(), "--port", std::to_string(taken)}, {}, 30s);
  CHECK(failed.exit_code == static_cast<int>(nnilib::ExitCode::kSystem));
  CHECK_THAT(failed.err, Catch::Contains(std::to_string(taken)) && Catch::Contains("--port"));
  const auto not_one =
      nnilib::standin::run_process({NNILIB_FMNIST_NAS, "serve", e.dir.path()}, {}, 30s);
  CHECK(not_one.exit_code == 2);
  CHECK_THAT(not_one.err, Catch::Contains("not an experiment directory"));
}

TEST_CASE("dashboard: serve --nni-webui serves NNI's web UI files at / and the dashboard beside") {
  Experiment e(1, 1, "STEPS=1");
  REQUIRE(nnilib::standin::run_process(e.run_argv({"--no-dashboard"}), {}, 60s).exit_code == 0);
  // A web UI build as NNI ships it (nni_node/static): index.html and its assets.
  const std::string webui = e.dir.path() + "/static";
  std::filesystem::create_directories(webui + "/js");
  std::ofstream(webui + "/index.html") << "<html>NNI web UI</html>";
  std::ofstream(webui + "/js/main.js") << "console.log('nni');";
  std::ofstream(e.dir.path() + "/secret.txt") << "not to be served";

  ChildProcess serve({NNILIB_FMNIST_NAS, "serve", e.exp(), "--port", "0", "--nni-webui", webui},
                     {});
  const int port = wait_for_port(serve);
  httplib::Client c("127.0.0.1", port);
  auto body = [&](const std::string& path) {
    auto r = c.Get(path.c_str());
    REQUIRE(r);
    return std::make_pair(r->status, r->body);
  };
  CHECK(body("/") == std::make_pair(200, std::string("<html>NNI web UI</html>")));
  CHECK(body("/js/main.js") == std::make_pair(200, std::string("console.log('nni');")));
  auto js = c.Get("/js/main.js");
  REQUIRE(js);
  CHECK_THAT(js->get_header_value("Content-Type"), Catch::Contains("javascript"));
  // The web UI's own routes are its index.html; nothing outside its folder is served.
  CHECK(body("/oview").second == "<html>NNI web UI</html>");
  CHECK(body("/../secret.txt").second == "<html>NNI web UI</html>");
  CHECK(body("/%2e%2e/secret.txt").second == "<html>NNI web UI</html>");
  // The dashboard moved to /dashboard/, NNI's REST API stays where the web UI calls it.
  CHECK_THAT(body("/dashboard/").second, Catch::Contains("static/app.js"));
  CHECK(body("/dashboard/api/experiments").first == 200);
  CHECK_THAT(body("/api/v1/nni/check-status").second, Catch::Contains("VIEWED"));

  const auto no_ui = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "serve", e.exp(), "--port", "0", "--nni-webui", e.dir.path() + "/js"}, {},
      30s);
  CHECK(no_ui.exit_code == 2);
  CHECK_THAT(no_ui.err, Catch::Contains("not NNI's web UI"));
}
