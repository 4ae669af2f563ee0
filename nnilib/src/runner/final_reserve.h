// Private to the runner: the end of the search for the final training
// (RunnerOptions::final_reserve_s): the time kept free for it, which proposals may still
// start, and, once the search has reached the reserve, which running trials finish and
// which stop. Decisions use the experiment's own timings (trial_time.h).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "runner/running_trials.h"
#include "runner/session_context.h"

namespace nnilib {

/// The final training's reserve of one session.
class FinalReserve {
 public:
  explicit FinalReserve(SessionContext& session) : session_(session) {}

  /// Seconds kept free for the final training of the current candidate (0: none, or no
  /// maxExperimentDuration): its estimate, at most final_reserve_max_share of the limit.
  double seconds() const;
  /// The latest a trial may end (elapsed seconds) when the final training keeps `reserve`.
  double finish_by(double reserve) const;

  /// Whether a trial about to start is expected to end before the reserve (true when
  /// nothing can be said yet); when it is, `expected_end` is set (elapsed seconds).
  /// A proposal that is not is counted for note_skipped().
  bool admits(const TrialRecord& t, std::optional<double>& expected_end);
  /// One line for the proposals admits() turned down since the last call (if any).
  void note_skipped();

  /// Whether the search has reached the reserve (reach()); a raised limit reopens it.
  bool reached() const { return reached_; }
  /// "the last 26:17 of maxExperimentDuration 2:00:00 are kept for the final training",
  /// with the cap and the estimate when the cap made it smaller.
  std::string kept(double reserve) const;
  /// "the search ends: " + kept(): the experiment's end reason once it reaches `reserve`.
  std::string reason(double reserve) const { return "the search ends: " + kept(reserve); }
  /// The search reaches the reserve now: notes `why` and what happens to running trials.
  void reach(double reserve, const std::string& why, const RunningTrials& running);
  void reopen() { reached_ = false; }
  /// After reach(), about once a second: a running trial that will not end by
  /// finish_by() (its progress, else the experiment's timings) stops now and counts with
  /// its best intermediate result (final_candidate); the others finish.
  void enforce(double reserve, RunningTrials& running);

 private:
  bool continued() const;
  double estimate() const;  ///< the final training's estimated seconds (final_reserve_s)
  double cap() const;       ///< final_reserve_max_share of maxExperimentDuration

  SessionContext& session_;
  bool reached_ = false;
  std::chrono::steady_clock::time_point last_check_{};
  struct Skipped {  // the proposals turned down since the last note
    int count = 0;
    double shortest = 1e300;
    double by = 0;
  } skipped_;
};

}  // namespace nnilib
