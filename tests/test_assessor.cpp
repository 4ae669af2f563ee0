// Medianstop assessor: NNI's median stopping rule, and the assessor factory.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "nnilib/common/error.h"
#include "nnilib/tuner/assessor.h"
#include "test_util.h"

using nnilib::AssessResult;
using nnilib::MedianstopAssessor;
using nnilib::OptimizeMode;

namespace {

// Reports `history` one step at a time (NNI assesses after every report), then ends the trial.
void complete(nnilib::Assessor& a, const std::string& id, const std::vector<double>& history,
              bool succeeded = true) {
  std::vector<double> seen;
  for (double v : history) {
    seen.push_back(v);
    a.assess_trial(id, seen);
  }
  a.trial_end(id, succeeded);
}

}  // namespace

TEST_CASE("medianstop: stops a trial worse than the median of completed running averages") {
  MedianstopAssessor a(OptimizeMode::kMaximize, 2);
  CHECK(a.assess_trial("first", {0.1, 0.1, 0.1}) == AssessResult::kGood);  // nothing completed yet
  a.trial_end("first", false);                                             // failed: not counted
  complete(a, "A", {0.5, 0.6, 0.7});  // running averages 0.5, 0.55, 0.6
  complete(a, "B", {0.6, 0.7, 0.8});  // 0.6, 0.65, 0.7
  complete(a, "C", {0.4, 0.5, 0.6});  // 0.4, 0.45, 0.5
  // Step 3: averages {0.5, 0.6, 0.7}, median 0.6.
  CHECK(a.assess_trial("bad", {0.1, 0.2, 0.3}) == AssessResult::kBad);
  CHECK(a.assess_trial("good", {0.5, 0.55, 0.65}) == AssessResult::kGood);
  CHECK(a.assess_trial("equal", {0.2, 0.6, 0.3}) ==
        AssessResult::kGood);  // best so far 0.6: not worse
  CHECK(a.assess_trial("early", {0.6, 0.5, 0.3}) == AssessResult::kGood);  // best so far counts
  // Step 4: no completed trial got that far.
  CHECK(a.assess_trial("long", {0.1, 0.1, 0.1, 0.1}) == AssessResult::kGood);
  // Before start_step nothing is stopped, however bad.
  CHECK(a.assess_trial("young", {-100.0}) == AssessResult::kGood);
}

TEST_CASE("medianstop: respects start_step, and ignores steps it never assessed") {
  MedianstopAssessor a(OptimizeMode::kMaximize, 3);
  complete(a, "A", {0.9, 0.9, 0.9});
  CHECK(a.assess_trial("x", {0.0, 0.0}) == AssessResult::kGood);
  CHECK(a.assess_trial("x", {0.0, 0.0, 0.0}) == AssessResult::kBad);

  // A trial that ended before start_step was never recorded (NNI only records
  // histories it assessed): it does not make a median.
  MedianstopAssessor b(OptimizeMode::kMaximize, 3);
  complete(b, "short", {0.9, 0.9});
  CHECK(b.assess_trial("y", {0.0, 0.0, 0.0}) == AssessResult::kGood);
}

TEST_CASE("medianstop: lower median when maximizing, upper median when minimizing (NNI)") {
  MedianstopAssessor max(OptimizeMode::kMaximize, 1);
  complete(max, "A", {0.4});
  complete(max, "B", {0.8});
  // Averages {0.4, 0.8}: maximize compares with 0.4.
  CHECK(max.assess_trial("t", {0.5}) == AssessResult::kGood);
  CHECK(max.assess_trial("u", {0.3}) == AssessResult::kBad);

  MedianstopAssessor min(OptimizeMode::kMinimize, 1);
  complete(min, "A", {0.4});
  complete(min, "B", {0.8});
  // Minimize compares with 0.8: a loss of 0.5 survives, 0.9 does not.
  CHECK(min.assess_trial("t", {0.5}) == AssessResult::kGood);
  CHECK(min.assess_trial("u", {0.9}) == AssessResult::kBad);
  // Minimize uses the best (lowest) value so far.
  MedianstopAssessor two(OptimizeMode::kMinimize, 0);
  complete(two, "A", {0.5, 0.5});
  CHECK(two.assess_trial("v", {0.3, 0.9}) == AssessResult::kGood);
  CHECK(two.assess_trial("w", {0.6, 0.9}) == AssessResult::kBad);
}

TEST_CASE("medianstop: the factory reads NNI's classArgs") {
  auto a = nnilib::make_assessor("Medianstop", {{"optimize_mode", "minimize"}, {"start_step", 2}});
  CHECK(a->name() == "Medianstop");
  complete(*a, "A", {1.0, 1.0});
  CHECK(a->assess_trial("t", {5.0}) == AssessResult::kGood);  // before start_step
  CHECK(a->assess_trial("t", {5.0, 5.0}) == AssessResult::kBad);
  CHECK(nnilib::make_assessor("medianstop", nullptr) != nullptr);

  auto make = [](const std::string& name, const nlohmann::json& args) {
    return testutil::error_of([&] { nnilib::make_assessor(name, args); });
  };
  CHECK(make("Curvefitting", nullptr) ==
        "assessor \"Curvefitting\": an NNI assessor that is not embedded here (run it with "
        "nnictl); embedded assessors: Medianstop");
  CHECK(make("Median", nullptr) ==
        "assessor \"Median\": unknown assessor; embedded assessors: Medianstop");
  CHECK(make("Medianstop", {{"start_step", -1}}) ==
        "assessor Medianstop: classArgs.start_step must be an integer in [0, 9999], got -1");
  CHECK(make("Medianstop", {{"optimize_mode", "down"}}) ==
        "assessor Medianstop: classArgs.optimize_mode must be one of maximize, minimize, got "
        "\"down\"");
  CHECK(make("Medianstop", {{"startstep", 1}}) ==
        "assessor Medianstop: unknown classArgs key \"startstep\"; accepted: optimize_mode, "
        "start_step");
}
