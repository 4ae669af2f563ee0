// Private to the runner: the requests a dashboard makes of a running experiment (the
// database's control table: cancel a trial, stop the experiment, change its limits),
// read by the session's loop and answered in the table.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "nnilib/runner/experiment_config.h"
#include "nnilib/runner/experiment_store.h"

namespace nnilib {

/// What the requests act on (the runner's session). Each returns the result line
/// recorded for the request; a refusal starts with "refused: ". A thrown Error is
/// recorded as "refused: <its message>".
class ControlTarget {
 public:
  virtual ~ControlTarget() = default;
  virtual std::string cancel_trial(const std::string& trial_id) = 0;
  virtual std::string stop_experiment() = 0;
  virtual std::string change_limits(const ExperimentLimits& change) = 0;
};

/// Reads and answers the control table.
class ControlRequests {
 public:
  /// Pending requests are read at most once per `period` (a read is a database query).
  explicit ControlRequests(std::chrono::milliseconds period = std::chrono::milliseconds(250));

  /// Applies the pending requests in order and records each one's result; returns the
  /// results (empty when none was pending or the period has not passed).
  std::vector<std::string> poll(ExperimentStore& store, ControlTarget& target);

 private:
  std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace nnilib
