// The embedded runner's experiment database: one SQLite file (WAL mode) per
// experiment holding the experiment, its trials, their parameters, every
// intermediate and final metric, statuses and timings. Each change is one
// transaction, written as it happens, so a reader (fmnist-nas show / export) sees
// a consistent state while the runner writes, and a crash or kill -9 of the runner
// loses nothing that was committed. The schema is documented in docs/runner.md.
// Free of LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/trial/protocol.h"

struct sqlite3;

namespace nnilib {

/// NNI's trial statuses.
inline constexpr const char* kWaiting = "WAITING";
inline constexpr const char* kRunning = "RUNNING";
inline constexpr const char* kSucceeded = "SUCCEEDED";
inline constexpr const char* kFailed = "FAILED";
inline constexpr const char* kUserCanceled = "USER_CANCELED";
inline constexpr const char* kEarlyStopped = "EARLY_STOPPED";

/// The experiment row.
struct ExperimentRecord {
  std::string id;                 ///< 8 lowercase letters and digits, like NNI's
  std::string name;               ///< experimentName
  nlohmann::ordered_json config;  ///< ExperimentConfig::to_json()
  std::uint64_t seed = 0;         ///< the tuner seed of the first session
  /// RUNNING, DONE (a stop condition was reached), STOPPED (interrupted; resumable)
  /// or ERROR (the runner failed).
  std::string status = "RUNNING";
  std::string end_reason;  ///< why it ended, one line ("maxTrialNumber 10 reached")
  double created_at = 0;   ///< Unix time, seconds
  double updated_at = 0;
  double elapsed_s = 0;  ///< run time over every session (what maxExperimentDuration counts)
  int sessions = 0;      ///< run + resumes so far
};

/// One trial row; aggregates of its metrics are kept up to date with them.
struct TrialRecord {
  std::string trial_id;  ///< 5 letters and digits, like NNI's
  std::int64_t sequence = 0;
  nlohmann::json parameter_id;  ///< what was sent in the parameter record
  nlohmann::json parameters = nlohmann::json::object();
  std::string status = kWaiting;
  int attempt = 1;  ///< > 1 when an interrupted trial was re-run
  std::optional<double> created_at, started_at, ended_at;  ///< Unix time, seconds
  std::optional<std::int64_t> pid;
  bool parameter_sent = false;  ///< the trial fetched its parameters
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;        ///< why it failed or was stopped (one line); empty otherwise
  bool interrupted = false;  ///< stopped because the runner stopped: resume re-runs it
  std::optional<nlohmann::json> final_value;  ///< the decoded FINAL value
  std::optional<double> final_default;        ///< its `default`
  int intermediate_count = 0;
  std::optional<double> latest_default;  ///< the last intermediate `default`
  std::vector<double> history;           ///< every intermediate `default` (read back, not a column)

  bool finished() const { return status != kWaiting && status != kRunning; }
  /// Wall time: ended (or `now` while running) minus started; 0 before it starts.
  double duration(double now) const;
};

/// One metric row.
struct MetricRecord {
  std::string trial_id;
  MetricType type = MetricType::kPeriodical;
  int sequence = 0;
  nlohmann::json value;  ///< the decoded value (number or object)
  double default_value = 0;
  double received_at = 0;  ///< Unix time, seconds
};

/// A request to change a running experiment (the dashboard's control), as a row of the
/// database's `control` table: the runner applies it and records the outcome.
struct ControlRecord {
  std::int64_t id = 0;
  std::string action;    ///< "cancel" (target: a trial id), "stop", or "limits"
  std::string target;    ///< the trial id of a cancel; "" otherwise
  nlohmann::json value;  ///< limits: {"maxTrialNumber": 50, ...}; null otherwise
  double requested_at = 0;
  std::optional<double> applied_at;  ///< when the runner handled it (done or refused)
  std::string result;                ///< one line: what the runner did, or why it did not
};

/// The `default` of a decoded metric value (a number, or an object's "default").
double default_of(const nlohmann::json& value);

/// Unix time now, in seconds.
double unix_now();

/// An experiment database. Not thread-safe (one per thread).
class ExperimentStore {
 public:
  /// Creates `path` with the schema and `experiment`. Throws UsageError when `path`
  /// exists, IoError naming the file when it cannot be written.
  static ExperimentStore create(const std::string& path, const ExperimentRecord& experiment);
  /// Opens an existing database. `read_only` for show/export: works while a runner
  /// writes and on a read-only copy. Throws UsageError naming the file when it is
  /// missing, not an experiment database, or of a newer schema (exit 2: the user named
  /// the wrong directory), IoError when it cannot be read.
  static ExperimentStore open(const std::string& path, bool read_only);

  ExperimentStore(ExperimentStore&& other) noexcept;
  ExperimentStore& operator=(ExperimentStore&& other) noexcept;
  ~ExperimentStore();

  const std::string& path() const { return path_; }

  ExperimentRecord experiment() const;
  std::vector<TrialRecord> trials() const;  ///< in sequence order, with their histories
  std::optional<TrialRecord> trial(const std::string& trial_id) const;
  std::vector<MetricRecord> metrics(const std::string& trial_id = "") const;

  // Writes: one transaction each.
  /// Updates the experiment's status, end reason, elapsed time and session count.
  void update_experiment(const ExperimentRecord& experiment);
  /// Sets only the elapsed time (the runner's periodic tick).
  void set_elapsed(double elapsed_s);
  /// Inserts a new trial (status WAITING).
  void insert_trial(const TrialRecord& trial);
  /// The trial's process started.
  void trial_started(const std::string& trial_id, std::int64_t pid, double at);
  /// The trial fetched its parameters.
  void parameter_sent(const std::string& trial_id);
  /// Stores a valid metric and updates the trial's aggregates.
  void add_metric(const MetricRecord& metric);
  /// The trial ended with `status`.
  void trial_ended(const TrialRecord& trial);
  /// Prepares an interrupted trial to run again: its metrics are deleted, its
  /// timings and outcome cleared, `attempt` incremented, status WAITING.
  void reset_trial(const std::string& trial_id);

  // The control table: written by a dashboard, read and answered by the runner.
  /// Records a request (applied_at null); returns its id.
  std::int64_t request_control(const ControlRecord& request);
  /// The requests not yet handled, oldest first.
  std::vector<ControlRecord> pending_controls() const;
  /// Marks a request handled at `at` with `result`.
  void control_handled(std::int64_t id, double at, const std::string& result);
  /// Every request, oldest first (none in a database made before the table existed).
  std::vector<ControlRecord> controls() const;

 private:
  ExperimentStore(sqlite3* db, std::string path);
  void exec(const std::string& sql) const;
  [[noreturn]] void fail(const std::string& what) const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace nnilib
