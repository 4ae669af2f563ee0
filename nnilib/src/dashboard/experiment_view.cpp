#include "dashboard/experiment_view.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/runner/experiment_config.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/runner.h"
#include "nnilib/trial/progress.h"

namespace nnilib {
namespace {

using nlohmann::json;

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// A number of the final result's dict ("test_accuracy", "params", "macs"), or null.
json final_field(const TrialRecord& t, const char* key) {
  if (!t.final_value || !t.final_value->is_object()) return nullptr;
  auto it = t.final_value->find(key);
  return it != t.final_value->end() && it->is_number() ? *it : json(nullptr);
}

json trial_json(const TrialRecord& t, OptimizeMode mode, const ExperimentPaths& paths, double now) {
  json flat = json::object();
  for (const auto& [name, value] : parameter_leaves(t.parameters)) flat[name] = value;
  json j = {{"id", t.trial_id},
            {"sequence", t.sequence},
            {"status", t.status},
            {"parameter_id", t.parameter_id},
            {"parameters", t.parameters},
            {"flat", flat},
            {"final", optional_number(t.final_default)},
            {"best", optional_number(trial_best_value(t, mode))},
            {"latest", optional_number(t.latest_default)},
            {"epochs", t.intermediate_count},
            {"test_accuracy", final_field(t, "test_accuracy")},
            {"params", final_field(t, "params")},
            {"macs", final_field(t, "macs")},
            {"created_at", optional_number(t.created_at)},
            {"started_at", optional_number(t.started_at)},
            {"ended_at", optional_number(t.ended_at)},
            {"duration_s", t.duration(now)},
            {"exit_code", t.exit_code ? json(*t.exit_code) : json(nullptr)},
            {"signal", t.signal ? json(*t.signal) : json(nullptr)},
            {"reason", t.reason},
            {"progress", nullptr}};
  if (t.status == kRunning) {
    if (auto p = read_trial_progress(paths.trial_dir(t.trial_id))) j["progress"] = p->to_json();
  }
  return j;
}

// Whether `a` is better than `b` in `mode`.
bool better(double a, double b, OptimizeMode mode) {
  return mode == OptimizeMode::kMaximize ? a > b : a < b;
}

OptimizeMode mode_of(const ExperimentRecord& e, const std::string& where) {
  try {
    return optimize_mode_of(ExperimentConfig::from_json(e.config, where));
  } catch (const Error&) {
    return OptimizeMode::kMaximize;  // a stored config this version cannot read
  }
}

json limit(const nlohmann::ordered_json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || !it->is_number()) return nullptr;
  return it->is_number_integer() ? json(it->get<std::int64_t>()) : json(it->get<double>());
}

// One trial's detail from an open store: `metrics` are the trial's, in order.
json detail_of(const TrialRecord& t, const std::vector<MetricRecord>& metrics, OptimizeMode mode,
               const ExperimentPaths& paths, std::size_t tail_bytes) {
  json j = trial_json(t, mode, paths, unix_now());

  json intermediate = json::array();
  json final_value = nullptr;
  std::vector<std::string> keys;
  auto add_key = [&](const std::string& k) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  };
  for (const MetricRecord& m : metrics) {
    if (m.type == MetricType::kFinal) {
      final_value = m.value;
      continue;
    }
    intermediate.push_back({{"sequence", m.sequence}, {"t", m.received_at}, {"value", m.value}});
    if (m.value.is_number()) add_key("default");
    if (m.value.is_object())
      for (const auto& [k, v] : m.value.items())
        if (v.is_number()) add_key(k);
  }
  // "default" first, the others in the order they came.
  std::stable_partition(keys.begin(), keys.end(),
                        [](const std::string& k) { return k == "default"; });
  j["intermediate"] = intermediate;
  j["final_value"] = final_value;
  j["keys"] = keys;

  j["architecture"] = nullptr;
  j["summary"] = nullptr;
  const std::string trial_dir = paths.trial_dir(t.trial_id);
  if (auto text = read_small_file(trial_dir + "/summary.json", 1 << 20)) {
    json summary = parse_bounded_json(*text);
    if (summary.is_object()) {
      if (auto it = summary.find("architecture"); it != summary.end() && it->is_string())
        j["architecture"] = *it;
      summary.erase("curve");  // the intermediate results already hold it
      j["summary"] = summary;
    }
  }
  j["stdout_tail"] = file_tail(trial_dir + "/trial.stdout", tail_bytes);
  j["stderr_tail"] = file_tail(trial_dir + "/trial.stderr", tail_bytes);
  return j;
}

// The modification time of `path` in seconds since the epoch, or nullopt.
std::optional<double> modified_at(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<double>(st.st_mtim.tv_sec) + static_cast<double>(st.st_mtim.tv_nsec) * 1e-9;
}

// fmnist-nas --final-train's state from <dir>/final: null before it starts (no
// params.json); "done" with its figures once its summary.json is newer than its
// params.json (an older one is an earlier final training's); "running" with its
// progress while the experiment's process lives; else "ended without a result".
json final_training_json(const ExperimentPaths& paths, bool running) {
  const std::string dir = paths.final_dir();
  const auto started = modified_at(dir + "/params.json");
  if (!started) return nullptr;
  json j = {{"started_at", *started}, {"epochs", nullptr}, {"progress", nullptr}};
  // The epochs it trains: what its summary or progress says (a --final-arg may override
  // params.json's), else params.json's, read only then.
  const auto planned_epochs = [&] {
    if (!j["epochs"].is_null()) return;
    if (auto text = read_small_file(dir + "/params.json", 1 << 20)) {
      const json params = parse_bounded_json(*text);
      if (params.is_object() && params.contains("epochs")) j["epochs"] = params["epochs"];
    }
  };
  // An ensemble (fmnist-nas --final-models): done once its figures are written; its
  // other models run meanwhile in final/m2, m3, ...
  const auto second_at = modified_at(dir + "/m2/params.json");
  const bool ensemble = second_at && *second_at >= *started;
  const auto ensemble_at = modified_at(dir + "/ensemble.json");
  const auto summary_at = ensemble ? std::optional<double>() : modified_at(dir + "/summary.json");
  if (ensemble && ensemble_at && *ensemble_at >= *started) {
    if (auto text = read_small_file(dir + "/ensemble.json", 1 << 20)) {
      const json e = parse_bounded_json(*text);
      if (e.is_object() && e.value("test_accuracy", json()).is_number()) {
        j["state"] = "done";
        j["ended_at"] = *ensemble_at;
        j["test_accuracy"] = e["test_accuracy"];
        j["test_time_augmentation"] = e.value("test_time_augmentation", json());
        const json models = e.value("models", json::array());
        j["models"] = models.is_array() ? models.size() : 0;
        if (models.is_array() && !models.empty() && models[0].is_object())
          j["epochs"] = models[0].value("epochs", json());
        planned_epochs();
        return j;
      }
    }
  }
  if (summary_at && *summary_at >= *started) {
    if (auto text = read_small_file(dir + "/summary.json", 1 << 20)) {
      const json summary = parse_bounded_json(*text);
      if (summary.is_object() && summary.value("test_accuracy", json()).is_number()) {
        j["state"] = "done";
        j["ended_at"] = *summary_at;
        for (const char* key :
             {"test_accuracy", "test_accuracy_without_tta", "test_time_augmentation", "seconds",
              "architecture", "precision", "threads", "train_size"})
          if (auto it = summary.find(key); it != summary.end()) j[key] = *it;
        if (auto it = summary.find("epochs_completed"); it != summary.end()) j["epochs"] = *it;
        planned_epochs();
        return j;
      }
    }
  }
  j["state"] = running ? "running" : "ended without a result";
  const auto progress_at = modified_at(dir + "/progress.json");
  if (running && progress_at && *progress_at >= *started)
    if (auto p = read_trial_progress(dir)) {
      j["progress"] = p->to_json();
      j["epochs"] = p->epochs;
    }
  planned_epochs();
  return j;
}

}  // namespace

std::string file_tail(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  if (size <= 0) return "";
  const std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                                   ? size - static_cast<std::streamoff>(max_bytes)
                                   : 0;
  in.seekg(start);
  std::string text(static_cast<std::size_t>(size - start), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (start > 0) {
    const auto newline = text.find('\n');
    if (newline != std::string::npos && newline + 1 < text.size()) text.erase(0, newline + 1);
  }
  return text;
}

std::string experiment_id_of(const std::string& dir) {
  const ExperimentPaths paths{dir};
  paths.require_existing();
  return ExperimentStore::open(paths.database(), true).experiment().id;
}

json experiment_list_entry(const std::string& dir) {
  const ExperimentPaths paths{dir};
  paths.require_existing();
  const ExperimentStore store = ExperimentStore::open(paths.database(), true);
  const ExperimentRecord e = store.experiment();
  const std::vector<TrialRecord> trials = store.trials();
  const auto best = best_trial(trials, mode_of(e, paths.database()));
  return {{"id", e.id},
          {"name", e.name},
          {"dir", dir},
          {"status", e.status},
          {"running", experiment_running(dir)},
          {"elapsed_s", e.elapsed_s},
          {"trials", trials.size()},
          {"best", best ? optional_number(best->final_default) : json(nullptr)},
          {"created_at", e.created_at}};
}

json experiment_snapshot(const std::string& dir, bool control) {
  const ExperimentPaths paths{dir};
  paths.require_existing();
  const ExperimentStore store = ExperimentStore::open(paths.database(), true);
  const ExperimentRecord e = store.experiment();
  const std::vector<TrialRecord> trials = store.trials();
  const OptimizeMode mode = mode_of(e, paths.database());
  const double now = unix_now();
  const bool running = experiment_running(dir);

  json counts = json::object();
  for (const char* s : {kWaiting, kRunning, kSucceeded, kFailed, kUserCanceled, kEarlyStopped})
    counts[s] = 0;
  json rows = json::array();
  for (const TrialRecord& t : trials) {
    counts[t.status] = counts.value(t.status, 0) + 1;
    rows.push_back(trial_json(t, mode, paths, now));
  }

  // Best so far: every result that improved on all before it, in arrival order.
  std::vector<MetricRecord> metrics = store.metrics();
  std::stable_sort(
      metrics.begin(), metrics.end(),
      [](const MetricRecord& a, const MetricRecord& b) { return a.received_at < b.received_at; });
  json curve = json::array();
  std::optional<double> best_so_far;
  for (const MetricRecord& m : metrics) {
    if (!best_so_far || better(m.default_value, *best_so_far, mode)) {
      best_so_far = m.default_value;
      curve.push_back({{"t", std::max(0.0, m.received_at - e.created_at)},
                       {"value", m.default_value},
                       {"id", m.trial_id}});
    }
  }

  json best = nullptr;
  if (const auto b = best_trial(trials, mode))
    best = {{"id", b->trial_id}, {"sequence", b->sequence}, {"value", *b->final_default}};

  json controls = json::array();
  for (const ControlRecord& c : store.controls())
    controls.push_back({{"id", c.id},
                        {"action", c.action},
                        {"target", c.target},
                        {"value", c.value},
                        {"requested_at", c.requested_at},
                        {"applied_at", optional_number(c.applied_at)},
                        {"result", c.result}});

  std::string tuner, assessor;
  if (auto it = e.config.find("tuner"); it != e.config.end() && it->is_object())
    tuner = it->value("name", "");
  if (auto it = e.config.find("assessor"); it != e.config.end() && it->is_object())
    assessor = it->value("name", "");

  return {{"id", e.id},
          {"name", e.name},
          {"dir", dir},
          {"status", e.status},
          {"end_reason", e.end_reason},
          {"running", running},
          {"control", control && running},
          {"now", now},
          {"created_at", e.created_at},
          {"updated_at", e.updated_at},
          {"elapsed_s", e.elapsed_s},
          {"sessions", e.sessions},
          {"tuner", tuner},
          {"assessor", assessor},
          {"optimize_mode", mode == OptimizeMode::kMaximize ? "maximize" : "minimize"},
          {"limits",
           {{"maxTrialNumber", limit(e.config, "maxTrialNumber")},
            {"maxExperimentDuration", limit(e.config, "maxExperimentDuration")},
            {"trialConcurrency", limit(e.config, "trialConcurrency")}}},
          {"counts", counts},
          {"best", best},
          {"best_curve", curve},
          {"parameter_names", key_parameters(trials)},
          {"trials", rows},
          {"controls", controls},
          {"final_training", final_training_json(paths, running)}};
}

std::optional<json> trial_detail(const std::string& dir, const std::string& trial_id,
                                 std::size_t tail_bytes) {
  const ExperimentPaths paths{dir};
  paths.require_existing();
  const ExperimentStore store = ExperimentStore::open(paths.database(), true);
  const std::optional<TrialRecord> t = store.trial(trial_id);
  if (!t) return std::nullopt;
  return detail_of(*t, store.metrics(trial_id), mode_of(store.experiment(), paths.database()),
                   paths, tail_bytes);
}

json trial_details(const std::string& dir, std::size_t tail_bytes) {
  const ExperimentPaths paths{dir};
  paths.require_existing();
  const ExperimentStore store = ExperimentStore::open(paths.database(), true);
  const OptimizeMode mode = mode_of(store.experiment(), paths.database());
  std::map<std::string, std::vector<MetricRecord>> metrics;
  for (MetricRecord& m : store.metrics()) metrics[m.trial_id].push_back(std::move(m));
  json details = json::object();
  for (const TrialRecord& t : store.trials())
    details[t.trial_id] = detail_of(t, metrics[t.trial_id], mode, paths, tail_bytes);
  return details;
}

}  // namespace nnilib
