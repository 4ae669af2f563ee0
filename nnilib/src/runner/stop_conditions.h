// Private to the runner: whether a session still starts trials, and if not, why:
// maxTrialNumber, maxExperimentDuration and the final training's reserve (limits: a
// raised one opens the search again), the tuner's end, or a stop (a signal or the
// dashboard: the running trials are stopped too, and the experiment can be resumed).
#pragma once

#include <string>

#include "runner/final_reserve.h"
#include "runner/running_trials.h"
#include "runner/session_context.h"

namespace nnilib {

/// The stop conditions of one session.
class StopConditions {
 public:
  enum class Intake {
    kOpen,          ///< new trials start
    kLimitReached,  ///< a limit or the reserve: a raised limit opens it again
    kClosed,        ///< the tuner has nothing more, or nothing it proposes fits
    kStopping       ///< stopped: the running trials stop too
  };

  StopConditions(SessionContext& session, RunningTrials& running, FinalReserve& reserve)
      : session_(session), running_(running), reserve_(reserve) {}

  bool open() const { return intake_ == Intake::kOpen; }
  bool stopping() const { return intake_ == Intake::kStopping; }
  /// Why no trials start (the experiment's end reason); "" while open.
  const std::string& end_reason() const { return end_reason_; }

  /// Stops the experiment (resumable): no new trials, SIGINT to the running ones.
  void stop(const std::string& reason);
  /// No new trials (`how`: kLimitReached or kClosed), the running ones finish; said in
  /// the log. Nothing when already closed.
  void no_more(Intake how, const std::string& reason);
  /// maxExperimentDuration and the final training's reserve (once per pass of the loop).
  void check_limits();
  /// After a limit was raised: a search that a limit had closed opens again (the stop
  /// conditions are then checked afresh). True when it did.
  bool reopen();

 private:
  void close(Intake how, const std::string& reason);

  SessionContext& session_;
  RunningTrials& running_;
  FinalReserve& reserve_;
  Intake intake_ = Intake::kOpen;
  std::string end_reason_;
};

}  // namespace nnilib
