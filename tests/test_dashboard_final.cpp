// The dashboard during fmnist-nas --final-train (docs/dashboard.md): a real fmnist-nas
// whose search runs bash+curl trials and whose final training is the real fmnist-trial
// on a Fashion-MNIST subset.
#include <catch2/catch.hpp>

#include "dashboard_support.h"
#include "nnilib/common/error.h"
#include "test_util.h"

using namespace dashboard_test;

TEST_CASE("dashboard: the final training is live, keeps the experiment locked, and stops") {
  // Two quick trials of parameters fmnist-trial takes, then a long real final training.
  Experiment e(2, 1, "STEPS=1", "  learning_rate: {_type: choice, _value: [0.002]}\n");
  ChildProcess run(
      e.run_argv({"--port", "0", "--final-train", "--final-epochs", "50", "--final-max-epochs",
                  "50", "--trial-binary", NNILIB_FMNIST_TRIAL,
                  "--final-arg=--data-dir=" + testutil::data_dir(), "--final-arg=--train-size=2000",
                  "--final-arg=--test-size=200", "--final-arg=--threads=1"}),
      {});
  const auto [port, key] = wait_for_address(run);
  httplib::Client c("127.0.0.1", port);
  c.set_default_headers({{"X-Control-Key", key}});
  REQUIRE(eventually(
      [&] {
        return run.stdout_so_far().find("final training on every training image") !=
               std::string::npos;
      },
      60s));

  // The runner still holds the experiment: another fmnist-nas cannot resume it.
  const auto resume = nnilib::standin::run_process(
      {NNILIB_FMNIST_NAS, "resume", e.exp(), "--plain", "--no-dashboard"}, {}, 30s);
  CHECK(resume.exit_code == static_cast<int>(nnilib::ExitCode::kUsage));
  CHECK_THAT(resume.err, Catch::Contains("is being run by another fmnist-nas"));

  // The snapshot shows it running, with its progress inside the epoch.
  const std::string api = "/api/experiments/" + e.store().experiment().id;
  json s;
  REQUIRE(eventually(
      [&] {
        s = get_json(c, api);
        return s["final_training"].is_object() && s["final_training"]["progress"].is_object();
      },
      60s));
  INFO(s["final_training"].dump());
  CHECK(s["running"] == true);
  CHECK(s["final_training"]["state"] == "running");
  CHECK(s["final_training"]["epochs"] == 50);
  CHECK(s["final_training"]["progress"]["epochs"] == 50);
  CHECK(s["final_training"]["progress"]["images_per_second"].get<double>() > 0);

  // Limits have nothing left to act on; stop ends the final training.
  auto r = post(c, api + "/limits", R"({"maxTrialNumber": 5})");
  REQUIRE(r);
  REQUIRE(r->status == 202);
  REQUIRE(eventually([&] {
    const auto controls = e.store().controls();
    return !controls.empty() && controls.back().applied_at;
  }));
  CHECK_THAT(e.store().controls().back().result,
             Catch::StartsWith("refused: the search has ended"));
  r = post(c, api + "/stop", "{}");
  REQUIRE(r);
  REQUIRE(r->status == 202);
  const auto result = run.wait(60s);
  CHECK(result.exit_code == static_cast<int>(nnilib::ExitCode::kInterrupted));
  CHECK_THAT(result.err, Catch::Contains("the final training was stopped from the dashboard"));
  CHECK(e.store().controls().back().result == "final training stopped");
  // Ended, not done: a read-only server says so.
  ChildProcess serve({NNILIB_FMNIST_NAS, "serve", e.exp(), "--port", "0"}, {});
  httplib::Client ro("127.0.0.1", wait_for_port(serve));
  const json after = get_json(ro, api);
  CHECK(after["running"] == false);
  CHECK(after["final_training"]["state"] == "ended without a result");
  CHECK(after["final_training"]["progress"].is_null());
}
