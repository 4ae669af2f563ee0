#include "runner/stop_conditions.h"

#include <cstdio>

#include "nnilib/runner/experiment_report.h"

namespace nnilib {

void StopConditions::close(Intake how, const std::string& reason) {
  intake_ = how;
  session_.state.stopping = true;
  end_reason_ = reason;
}

void StopConditions::stop(const std::string& reason) {
  close(Intake::kStopping, reason);
  session_.server->close_all();
  char grace[32];
  std::snprintf(grace, sizeof grace, "%.1f", session_.options.kill_grace.count() / 1000.0);
  session_.note(reason + ": stopping " + std::to_string(running_.size()) +
                " running trial(s) (SIGINT, SIGKILL after " + grace + " s)");
  running_.stop_all(StopCause::kRunnerStop, reason);
}

void StopConditions::no_more(Intake how, const std::string& reason) {
  if (intake_ != Intake::kOpen) return;
  close(how, reason);
  session_.note(reason + (running_.empty() ? "" : "; waiting for the running trial(s) to finish"));
}

void StopConditions::check_limits() {
  if (intake_ == Intake::kStopping) return;
  const auto& limit = session_.config.max_experiment_duration_s;
  if (limit && session_.elapsed() >= static_cast<double>(*limit)) {
    no_more(Intake::kLimitReached,
            "maxExperimentDuration " + format_duration(static_cast<double>(*limit)) + " reached");
    return;
  }
  const double reserve = reserve_.seconds();  // > 0 only with maxExperimentDuration
  if (reserve <= 0) return;
  if (!reserve_.reached() && session_.elapsed() + reserve >= static_cast<double>(*limit)) {
    const std::string why = reserve_.reason(reserve);
    if (intake_ == Intake::kOpen) close(Intake::kLimitReached, why);
    reserve_.reach(reserve, why, running_);
  }
  if (reserve_.reached()) reserve_.enforce(reserve, running_);
}

bool StopConditions::reopen() {
  if (intake_ != Intake::kLimitReached) return false;
  intake_ = Intake::kOpen;
  reserve_.reopen();
  session_.state.stopping = false;
  end_reason_.clear();
  return true;
}

}  // namespace nnilib
