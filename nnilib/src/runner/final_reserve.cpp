#include "runner/final_reserve.h"

#include <algorithm>
#include <cstdio>

#include "nnilib/runner/experiment_report.h"
#include "runner/trial_time.h"

namespace nnilib {

bool FinalReserve::continued() const { return session_.tuner->continued_budget() > 0; }

double FinalReserve::estimate() const {
  if (!session_.options.final_reserve_s || !session_.config.max_experiment_duration_s) return 0;
  const auto candidate = final_candidate(session_.state.trials, session_.state.mode);
  return candidate ? std::max(0.0, session_.options.final_reserve_s(candidate->trial)) : 0.0;
}

double FinalReserve::cap() const {
  if (!session_.config.max_experiment_duration_s) return 0;
  return std::clamp(session_.options.final_reserve_max_share, 0.0, 1.0) *
         static_cast<double>(*session_.config.max_experiment_duration_s);
}

double FinalReserve::seconds() const { return std::min(estimate(), cap()); }

double FinalReserve::finish_by(double reserve) const {
  return static_cast<double>(*session_.config.max_experiment_duration_s) -
         (1 - std::clamp(session_.options.final_finish_share, 0.0, 1.0)) * reserve;
}

bool FinalReserve::admits(const TrialRecord& t, std::optional<double>& expected_end) {
  expected_end.reset();
  const double reserve = seconds();
  if (reserve <= 0) return true;
  const auto expected = TrialTimes(session_.state.trials, continued()).expected_seconds(t);
  if (!expected) return true;
  const double by = finish_by(reserve);
  const double now = session_.elapsed();
  if (now + *expected <= by) {
    expected_end = now + *expected;
    return true;
  }
  skipped_.count += 1;
  skipped_.shortest = std::min(skipped_.shortest, *expected);
  skipped_.by = by;
  return false;
}

void FinalReserve::note_skipped() {
  if (skipped_.count == 0) return;
  session_.note("not started: " + std::to_string(skipped_.count) +
                " proposal(s) of the tuner, the shortest expected to take " +
                format_duration(skipped_.shortest) + ", would not end by " +
                format_duration(skipped_.by) + " (the search then ends for the final training)");
  skipped_ = Skipped{};
}

std::string FinalReserve::kept(double reserve) const {
  const double limit = static_cast<double>(*session_.config.max_experiment_duration_s);
  std::string why = "the last " + format_duration(reserve) + " of maxExperimentDuration " +
                    format_duration(limit) + " are kept for the final training";
  if (const double wanted = estimate(); wanted > reserve + 0.5) {
    char share[16];
    std::snprintf(share, sizeof share, "%.0f%%",
                  100 * std::clamp(session_.options.final_reserve_max_share, 0.0, 1.0));
    why += " (at most " + std::string(share) + " of it: its estimate was " +
           format_duration(wanted) + "; it fits its epochs to the time it gets)";
  }
  return why;
}

void FinalReserve::reach(double reserve, const std::string& why, const RunningTrials& running) {
  reached_ = true;
  session_.note(why + (running.empty()
                           ? ""
                           : "; the running trials finish if they end by " +
                                 format_duration(finish_by(reserve)) + ", the others stop now"));
  last_check_ = std::chrono::steady_clock::time_point{};
}

void FinalReserve::enforce(double reserve, RunningTrials& running) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_check_ < std::chrono::seconds(1)) return;
  last_check_ = now;
  const TrialTimes times(session_.state.trials, continued());
  const double by = finish_by(reserve);
  for (ActiveTrial& a : running.all()) {
    if (a.stop != StopCause::kNone) continue;
    TrialRecord& t = session_.state.trials[a.index];
    const auto left = seconds_left(t, session_.paths.trial_dir(t.trial_id), times, unix_now());
    // A trial started because it was expected to end in time may run a little over that
    // expectation (a fifth of its length, 2 s) before it counts as late.
    const double own_by =
        a.expected_end
            ? std::max(by, *a.expected_end + 0.2 * (*a.expected_end - a.start_elapsed) + 2)
            : by;
    if (left && session_.elapsed() + *left <= own_by) {
      if (!a.finishing) {
        a.finishing = true;
        session_.note(trial_label(t) + " finishes before the final training (about " +
                      format_duration(*left) + " left)");
      }
      continue;
    }
    running.request_stop(a, StopCause::kReserve,
                         "stopped for the final training: " +
                             (left ? "about " + format_duration(*left) + " left would end after " +
                                         format_duration(own_by)
                                   : std::string("it did not end by ") + format_duration(own_by)) +
                             "; its best result still counts for the final training");
  }
}

}  // namespace nnilib
