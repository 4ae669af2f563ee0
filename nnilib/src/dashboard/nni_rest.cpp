#include "dashboard/nni_rest.h"

#include <cmath>
#include <limits>
#include <map>

#include <unistd.h>

#include "nnilib/common/json_text.h"
#include "nnilib/runner/runner.h"

namespace nnilib {
namespace {

using nlohmann::json;
using oj = nlohmann::ordered_json;

// Epoch milliseconds, as NNI gives every time.
long long ms(double unix_seconds) { return std::llround(unix_seconds * 1000.0); }

// The parameter id as NNI's REST API shows it: always a string.
std::string id_text(const json& parameter_id) {
  return parameter_id.is_string() ? parameter_id.get<std::string>() : parameter_id.dump();
}

// Hyperband and BOHB are NNI advisors: their config section is `advisor`.
bool is_advisor(const std::string& name) { return name == "Hyperband" || name == "BOHB"; }

}  // namespace

std::string nni_dumps(const json& value) {
  std::string out;
  json_brief_into(value, out, std::numeric_limits<std::size_t>::max());
  return out;
}

NniRestView::NniRestView(const std::string& dir, bool viewed) : dir_(dir), viewed_(viewed) {
  const ExperimentPaths paths{dir};
  paths.require_existing();
  const ExperimentStore store = ExperimentStore::open(paths.database(), true);
  experiment_ = store.experiment();
  trials_ = store.trials();
  metrics_ = store.metrics();
  running_ = experiment_running(dir);
  for (const TrialRecord& t : trials_) parameter_ids_[t.trial_id] = id_text(t.parameter_id);
  for (std::size_t i = 0; i < metrics_.size(); ++i) of_trial_[metrics_[i].trial_id].push_back(i);
}

oj NniRestView::check_status() const {
  oj errors = oj::array();
  std::string status;
  if (running_) {
    status = "RUNNING";
  } else if (viewed_) {
    status = "VIEWED";
  } else if (experiment_.status == "ERROR") {
    status = "ERROR";
    errors.push_back(experiment_.end_reason);
  } else {
    status = experiment_.status == "RUNNING" ? "STOPPED" : experiment_.status;  // DONE, STOPPED
  }
  return oj{{"status", status}, {"errors", errors}};
}

oj NniRestView::experiment() const {
  const oj& c = experiment_.config;
  oj params = oj::object();
  auto copy = [&](const char* key) {
    if (auto it = c.find(key); it != c.end() && !it->is_null()) params[key] = *it;
  };
  auto duration = [&](const char* key) {
    if (auto it = c.find(key); it != c.end() && it->is_number())
      params[key] = std::to_string(it->get<long long>()) + "s";
  };
  copy("experimentName");
  params["experimentType"] = "hpo";
  copy("searchSpaceFile");
  copy("searchSpace");
  copy("trialCommand");
  copy("trialCodeDirectory");
  copy("trialConcurrency");
  duration("maxExperimentDuration");
  copy("maxTrialNumber");
  duration("maxTrialDuration");
  copy("trialGpuNumber");
  params["useAnnotation"] = false;
  copy("debug");
  copy("logLevel");
  copy("experimentWorkingDirectory");
  if (auto it = c.find("tuner"); it != c.end() && it->is_object()) {
    const std::string name = it->value("name", "");
    params[is_advisor(name) ? "advisor" : "tuner"] = *it;
  }
  copy("assessor");
  oj ts = {{"platform", "local"}};
  for (const char* key : {"trialCommand", "trialCodeDirectory", "debug", "maxTrialNumberPerGpu"})
    if (auto it = c.find(key); it != c.end() && !it->is_null()) ts[key] = *it;
  ts["reuseMode"] = false;
  params["trainingService"] = ts;

  oj j = {{"params", params},
          {"id", experiment_.id},
          {"execDuration", std::llround(experiment_.elapsed_s)},
          {"startTime", ms(experiment_.created_at)}};
  if (!running_ && experiment_.status != "RUNNING") j["endTime"] = ms(experiment_.updated_at);
  j["logDir"] = dir_;
  j["nextSequenceId"] = trials_.size();
  j["revision"] = experiment_.sessions;
  return j;
}

oj NniRestView::experiments_info(int port) const { return oj::array({experiment_metadata(port)}); }

oj NniRestView::experiment_metadata(int port) const {
  const bool ended = !running_ && experiment_.status != "RUNNING";
  oj j = {{"id", experiment_.id},
          {"port", port},
          {"startTime", ms(experiment_.created_at)},
          {"endTime", ended && !viewed_ ? oj(ms(experiment_.updated_at)) : oj("N/A")},
          {"status", check_status()["status"]},
          {"platform", "local"},
          {"experimentName", experiment_.name},
          {"tag", oj::array()},
          {"pid", static_cast<long long>(::getpid())},  // the serving process
          {"webuiUrl", oj::array()},
          {"logDir", dir_},
          {"prefixUrl", nullptr}};
  return j;
}

oj NniRestView::job_statistics() const {
  std::map<std::string, int> counts;
  for (const TrialRecord& t : trials_) counts[t.status] += 1;
  oj out = oj::array();
  for (const auto& [status, n] : counts)
    out.push_back({{"trialJobStatus", status}, {"trialJobNumber", n}});
  return out;
}

std::vector<MetricRecord> NniRestView::metrics_of(const std::string& trial_id) const {
  std::vector<MetricRecord> out;
  if (auto it = of_trial_.find(trial_id); it != of_trial_.end())
    for (std::size_t i : it->second) out.push_back(metrics_[i]);
  return out;
}

oj NniRestView::metric_json(const MetricRecord& m) const {
  const auto it = parameter_ids_.find(m.trial_id);
  const std::string parameter_id = it != parameter_ids_.end() ? it->second : "0";
  oj j = {{"timestamp", ms(m.received_at)}, {"trialJobId", m.trial_id},
          {"parameterId", parameter_id},    {"type", to_string(m.type)},
          {"sequence", m.sequence},         {"data", json(nni_dumps(m.value)).dump()}};
  return j;
}

oj NniRestView::trial_job_json(const TrialRecord& t) const {
  oj record = {{"parameter_id", t.parameter_id},
               {"parameter_source", "algorithm"},
               {"parameters", t.parameters},
               {"parameter_index", 0}};
  const std::string log_path = ExperimentPaths{dir_}.trial_dir(t.trial_id);
  oj j = {{"trialJobId", t.trial_id},
          {"status", t.status},
          {"hyperParameters", oj::array({record.dump()})}};
  if (t.started_at) j["startTime"] = ms(*t.started_at);
  j["logPath"] = log_path;
  j["sequenceId"] = t.sequence;
  j["envId"] = "local-env";
  if (t.ended_at) j["endTime"] = ms(*t.ended_at);
  if (t.status == kFailed) j["stderrPath"] = log_path + "/trial.stderr";
  if (!t.reason.empty()) j["message"] = t.reason;
  oj finals = oj::array();
  for (const MetricRecord& m : metrics_of(t.trial_id))
    if (m.type == MetricType::kFinal) finals.push_back(metric_json(m));
  if (!finals.empty()) j["finalMetricData"] = finals;
  return j;
}

oj NniRestView::trial_jobs(const std::string& status) const {
  oj out = oj::array();
  for (const TrialRecord& t : trials_)
    if (status.empty() || t.status == status) out.push_back(trial_job_json(t));
  return out;
}

std::optional<oj> NniRestView::trial_job(const std::string& trial_id) const {
  for (const TrialRecord& t : trials_)
    if (t.trial_id == trial_id) return trial_job_json(t);
  return std::nullopt;
}

oj NniRestView::metric_data(const std::string& trial_id, const std::string& type) const {
  oj out = oj::array();
  for (const MetricRecord& m : metrics_)
    if ((trial_id.empty() || m.trial_id == trial_id) && (type.empty() || to_string(m.type) == type))
      out.push_back(metric_json(m));
  return out;
}

oj NniRestView::metric_data_range(long long min_sequence, long long max_sequence) const {
  oj out = oj::array();
  for (const TrialRecord& t : trials_) {
    if (t.sequence < min_sequence || t.sequence > max_sequence) continue;
    for (const MetricRecord& m : metrics_of(t.trial_id)) out.push_back(metric_json(m));
  }
  return out;
}

oj NniRestView::metric_data_latest() const {
  oj finals = oj::array();
  oj periodicals = oj::array();
  for (const TrialRecord& t : trials_) {
    std::optional<MetricRecord> final_metric, last;
    for (const MetricRecord& m : metrics_of(t.trial_id)) {
      if (m.type == MetricType::kFinal) {
        final_metric = m;
      } else if (!last || m.sequence > last->sequence) {
        last = m;
      }
    }
    if (final_metric) finals.push_back(metric_json(*final_metric));
    if (last) periodicals.push_back(metric_json(*last));
  }
  for (auto& p : periodicals) finals.push_back(std::move(p));
  return finals;
}

}  // namespace nnilib
