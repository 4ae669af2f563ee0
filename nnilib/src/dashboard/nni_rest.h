// NNI 3.0's REST API (/api/v1/nni/...) over an fmnist-nas experiment directory, with
// the shapes of a real NNI 3.0 manager (recorded responses in tests/fixtures/nni-rest/):
// times in epoch milliseconds, parameter ids as strings, `hyperParameters` a list of
// JSON strings, a metric's `data` a JSON string of the JSON the trial reported.
// docs/dashboard.md "NNI's REST API". Reads only; free of LibTorch.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/runner/experiment_store.h"

namespace nnilib {

/// One experiment as NNI's REST API shows it: read once from the directory, then
/// shaped by each call, keys in NNI's order.
class NniRestView {
 public:
  /// Reads the experiment in `dir`. `viewed`: the experiment is shown, not run, by
  /// this server (NNI's `nnictl view`: check-status says VIEWED when it is not running).
  /// Throws UsageError when `dir` holds no experiment database.
  NniRestView(const std::string& dir, bool viewed);

  nlohmann::ordered_json check_status() const;              ///< {"status": "RUNNING", "errors": []}
  nlohmann::ordered_json experiment() const;                ///< the experiment profile
  nlohmann::ordered_json experiments_info(int port) const;  ///< [this experiment's entry]
  nlohmann::ordered_json experiment_metadata(int port) const;  ///< that entry alone
  nlohmann::ordered_json job_statistics() const;  ///< [{"trialJobStatus", "trialJobNumber"}]
  /// Every trial job, or those of one status.
  nlohmann::ordered_json trial_jobs(const std::string& status = "") const;
  /// One trial job; nullopt when there is no such trial.
  std::optional<nlohmann::ordered_json> trial_job(const std::string& trial_id) const;
  /// Every metric, or one trial's (empty id), optionally of one type (PERIODICAL, FINAL).
  nlohmann::ordered_json metric_data(const std::string& trial_id = "",
                                     const std::string& type = "") const;
  /// The metrics of the trials whose sequence is in [min_sequence, max_sequence].
  nlohmann::ordered_json metric_data_range(long long min_sequence, long long max_sequence) const;
  /// Each trial's FINAL, then each trial's last PERIODICAL (NNI's order).
  nlohmann::ordered_json metric_data_latest() const;

  const ExperimentRecord& record() const { return experiment_; }
  const std::vector<TrialRecord>& trials() const { return trials_; }

 private:
  std::vector<MetricRecord> metrics_of(const std::string& trial_id) const;
  nlohmann::ordered_json metric_json(const MetricRecord& m) const;
  nlohmann::ordered_json trial_job_json(const TrialRecord& t) const;

  std::string dir_;
  bool viewed_ = false;
  bool running_ = false;
  ExperimentRecord experiment_;
  std::vector<TrialRecord> trials_;
  std::vector<MetricRecord> metrics_;
  std::map<std::string, std::string> parameter_ids_;          // trial id -> NNI's parameterId
  std::map<std::string, std::vector<std::size_t>> of_trial_;  // trial id -> its metrics_
};

/// A metric value as NNI's trial SDK serializes it (Python's json.dumps: ", " and ": "
/// separators), e.g. {"default": 0.85, "val_loss": 0.41} -> "{\"default\": 0.85, ...}".
std::string nni_dumps(const nlohmann::json& value);

}  // namespace nnilib
