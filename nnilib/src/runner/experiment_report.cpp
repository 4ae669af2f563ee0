#include "nnilib/runner/experiment_report.h"
#include "nnilib/trial/progress.h"
#include "nnilib/trial/protocol.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

namespace nnilib {
namespace {

using nlohmann::json;

void flatten_into(const json& params, const std::string& prefix,
                  std::vector<std::pair<std::string, json>>& out) {
  if (!params.is_object()) return;
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (it.key() == "_name") continue;
    const std::string name = prefix + it.key();
    const json& v = it.value();
    if (v.is_object() && v.contains("_name")) {
      out.emplace_back(name, v["_name"]);
      flatten_into(v, name + "/", out);
    } else {
      out.emplace_back(name, v);
    }
  }
}

// A parameter value, short: numbers %.4g, strings bare.
std::string short_value(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v.get<double>());
    return buf;
  }
  return v.dump();
}

std::string pad(std::string s, std::size_t width, bool right = false) {
  if (s.size() > width) s = s.substr(0, width);
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

std::string cut(const std::string& s, std::size_t width) {
  if (s.size() <= width) return s;
  if (width < 3) return s.substr(0, width);
  return s.substr(0, width - 3) + "...";
}

bool better(double a, double b, OptimizeMode mode) {
  return mode == OptimizeMode::kMaximize ? a > b : a < b;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_number(std::optional<double> v) {
  if (!v) return "";
  return json(*v).dump();  // the shortest text that reads back the same double
}

}  // namespace

std::vector<std::pair<std::string, json>> parameter_leaves(const json& parameters) {
  std::vector<std::pair<std::string, json>> out;
  flatten_into(parameters, "", out);
  return out;
}

std::vector<std::string> key_parameters(const std::vector<TrialRecord>& trials) {
  std::vector<std::string> names;
  std::map<std::string, std::set<std::string>> values;
  for (const TrialRecord& t : trials) {
    for (const auto& [name, value] : parameter_leaves(t.parameters)) {
      if (!values.count(name)) names.push_back(name);
      values[name].insert(value.dump());
    }
  }
  // A parameter missing from some trials (nested choice) differs too.
  std::vector<std::string> differing;
  for (const std::string& n : names) {
    std::size_t present = 0;
    for (const TrialRecord& t : trials)
      for (const auto& kv : parameter_leaves(t.parameters)) present += kv.first == n ? 1 : 0;
    if (values[n].size() > 1 || present < trials.size()) differing.push_back(n);
  }
  if (trials.size() < 2 || differing.empty()) return names;
  return differing;
}

std::string abbreviate_parameter(const std::string& name) {
  if (name.size() <= 4) return name;
  std::string out;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find_first_of("_/", start);
    if (end == std::string::npos) end = name.size();
    const std::string word = name.substr(start, end - start);
    if (!word.empty()) {
      // A numbered word keeps its number ("conv1" -> "c1", "c1" -> "c1"): blocks 1 and 4
      // must not both read "c".
      std::size_t digits = word.size();
      while (digits > 0 && std::isdigit(static_cast<unsigned char>(word[digits - 1]))) --digits;
      out += digits == 0 ? word : word.substr(0, 1) + word.substr(digits);
    }
    if (end < name.size() && name[end] == '/') out += '/';
    start = end + 1;
  }
  return out.empty() ? name : out;
}

std::vector<std::string> abbreviate_parameters(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  bool clash = false;
  for (const std::string& n : names) {
    out.push_back(abbreviate_parameter(n));
    clash = clash || !seen.insert(out.back()).second;
  }
  return clash ? names : out;
}

std::optional<TrialRecord> best_trial(const std::vector<TrialRecord>& trials, OptimizeMode mode) {
  const TrialRecord* best = nullptr;
  for (const TrialRecord& t : trials) {
    if (t.status != kSucceeded || !t.final_default) continue;
    if (best == nullptr || better(*t.final_default, *best->final_default, mode)) best = &t;
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

std::vector<FinalCandidate> final_candidates(const std::vector<TrialRecord>& trials,
                                             OptimizeMode mode, std::size_t n) {
  std::vector<FinalCandidate> all;
  for (const TrialRecord& t : trials) {
    std::optional<double> value;
    bool partial = false;
    if (t.status == kSucceeded && t.final_default) {
      value = t.final_default;
    } else if ((t.status == kEarlyStopped || t.status == kUserCanceled) && !t.interrupted &&
               !t.history.empty()) {
      value = trial_best_value(t, mode);
      partial = true;
    }
    if (value && std::isfinite(*value)) all.push_back(FinalCandidate{t, *value, partial});
  }
  // Best first, the earliest on ties; then one per configuration.
  std::stable_sort(all.begin(), all.end(),
                   [mode](const FinalCandidate& a, const FinalCandidate& b) {
                     return better(a.value, b.value, mode);
                   });
  std::vector<FinalCandidate> chosen;
  for (const FinalCandidate& c : all) {
    if (chosen.size() >= n) break;
    const nlohmann::json config = configuration_of(c.trial.parameters);
    const bool seen = std::any_of(chosen.begin(), chosen.end(), [&](const FinalCandidate& o) {
      return configuration_of(o.trial.parameters) == config;
    });
    if (!seen) chosen.push_back(c);
  }
  return chosen;
}

std::optional<FinalCandidate> final_candidate(const std::vector<TrialRecord>& trials,
                                              OptimizeMode mode) {
  auto best = final_candidates(trials, mode, 1);
  if (best.empty()) return std::nullopt;
  return best.front();
}

std::optional<double> trial_best_value(const TrialRecord& trial, OptimizeMode mode) {
  std::optional<double> best = trial.final_default;
  for (double v : trial.history)
    if (!best || better(v, *best, mode)) best = v;
  if (!best && trial.latest_default) best = trial.latest_default;
  return best;
}

std::string format_metric(std::optional<double> value) {
  if (!value) return "-";
  const double v = *value;
  char buf[32];
  const double a = std::abs(v);
  if (v == 0) {
    return "0";
  } else if (a >= 0.001 && a < 1000) {
    std::snprintf(buf, sizeof buf, a < 10 ? "%.4f" : (a < 100 ? "%.3f" : "%.2f"), v);
  } else {
    std::snprintf(buf, sizeof buf, "%.1e", v);
  }
  return buf;
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  } else {
    const long s = static_cast<long>(seconds);
    if (s < 3600) {
      std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    } else {
      std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    }
  }
  return buf;
}

std::string format_time(std::optional<double> unix_seconds) {
  if (!unix_seconds) return "";
  const std::time_t t = static_cast<std::time_t>(*unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_trials_table(const std::vector<TrialRecord>& trials,
                                const TableOptions& options) {
  const std::size_t width = static_cast<std::size_t>(std::max(60, options.width));
  const std::optional<TrialRecord> best = best_trial(trials, options.mode);
  const std::vector<std::string> keys = key_parameters(trials);
  const std::vector<std::string> abbrev = abbreviate_parameters(keys);

  // Which rows: all, or the running ones, the best and the latest ones.
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < trials.size(); ++i) rows.push_back(i);
  std::size_t left_out = 0;
  if (options.max_rows > 0 && rows.size() > options.max_rows) {
    std::vector<bool> keep(trials.size(), false);
    std::size_t kept = 0;
    auto take = [&](std::size_t i) {
      if (!keep[i] && kept < options.max_rows) {
        keep[i] = true;
        ++kept;
      }
    };
    for (std::size_t i = 0; i < trials.size(); ++i)
      if (!trials[i].finished()) take(i);
    for (std::size_t i = 0; i < trials.size(); ++i)
      if (best && trials[i].trial_id == best->trial_id) take(i);
    for (std::size_t i = trials.size(); i-- > 0;) take(i);
    rows.clear();
    for (std::size_t i = 0; i < trials.size(); ++i)
      if (keep[i]) rows.push_back(i);
    left_out = trials.size() - rows.size();
  }

  // Progress inside the epoch of running trials, when they report it.
  std::map<std::size_t, std::string> progress;
  if (!options.experiment_dir.empty()) {
    for (std::size_t i : rows) {
      if (trials[i].status != kRunning) continue;
      if (const auto p =
              read_trial_progress(options.experiment_dir + "/trials/" + trials[i].trial_id))
        progress[i] = p->brief();
    }
  }
  const std::size_t progress_width = progress.empty() ? 0 : 24;

  //  seq trial status [progress] ep latest best final time params
  const std::string header = pad("  #", 5) + pad("trial", 7) + pad("status", 14) +
                             (progress_width ? pad("progress", progress_width) : "") +
                             pad("ep", 4, true) + pad("latest", 9, true) + pad("best", 9, true) +
                             pad("final", 9, true) + pad("time", 9, true) + "  ";
  const std::size_t param_width = width > header.size() ? width - header.size() : 0;
  std::string out = cut(header + "parameters", width) + "\n";
  for (std::size_t i : rows) {
    const TrialRecord& t = trials[i];
    const bool is_best = best && best->trial_id == t.trial_id;
    std::string line =
        pad((is_best ? "*" : " ") + pad(std::to_string(t.sequence), 3, true), 5) +
        pad(t.trial_id, 7) + pad(t.status, 14) +
        (progress_width ? pad(progress.count(i) ? progress[i] : "", progress_width) : "") +
        pad(t.started_at ? std::to_string(t.intermediate_count) : "-", 4, true) +
        pad(format_metric(t.latest_default), 9, true) +
        pad(format_metric(trial_best_value(t, options.mode)), 9, true) +
        pad(format_metric(t.final_default), 9, true) +
        pad(t.started_at ? format_duration(t.duration(options.now)) : "-", 9, true) + "  ";
    std::string params;
    const auto flat = parameter_leaves(t.parameters);
    for (std::size_t k = 0; k < keys.size(); ++k) {
      for (const auto& [name, value] : flat) {
        if (name != keys[k]) continue;
        if (!params.empty()) params += ' ';
        params += abbrev[k] + "=" + short_value(value);
      }
    }
    out += line + cut(params, param_width) + "\n";
  }
  if (left_out > 0) out += "  ... " + std::to_string(left_out) + " more trial(s) not shown\n";
  // The legend of the abbreviations that differ from the names.
  std::string legend;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    if (abbrev[k] == keys[k]) continue;
    legend += (legend.empty() ? "  " : ", ") + abbrev[k] + "=" + keys[k];
  }
  if (!legend.empty()) {
    // Wrapped to the width.
    std::string line;
    std::size_t pos = 0;
    while (pos < legend.size()) {
      std::size_t next = legend.find(", ", pos);
      std::string item =
          legend.substr(pos, next == std::string::npos ? std::string::npos : next + 2 - pos);
      if (!line.empty() && line.size() + item.size() > width) {
        out += line + "\n";
        line = "  ";
      }
      line += item;
      pos = next == std::string::npos ? legend.size() : next + 2;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (!line.empty()) out += cut(line, width) + "\n";
  }
  return out;
}

std::string export_csv(const std::vector<TrialRecord>& trials) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const TrialRecord& t : trials)
    for (const auto& kv : parameter_leaves(t.parameters))
      if (seen.insert(kv.first).second) names.push_back(kv.first);
  std::string out = "sequence,trial_id,status,attempt,parameter_id";
  for (const std::string& n : names) out += "," + csv_field(n);
  out +=
      ",intermediate_count,latest_default,final_default,final_value,started_at,ended_at,"
      "duration_s,exit_code,signal,interrupted,reason\r\n";
  for (const TrialRecord& t : trials) {
    out += std::to_string(t.sequence) + "," + csv_field(t.trial_id) + "," + t.status + "," +
           std::to_string(t.attempt) + "," + csv_field(t.parameter_id.dump());
    const auto flat = parameter_leaves(t.parameters);
    for (const std::string& n : names) {
      std::string cell;
      for (const auto& [name, value] : flat)
        if (name == n) cell = value.is_string() ? value.get<std::string>() : value.dump();
      out += "," + csv_field(cell);
    }
    out += "," + std::to_string(t.intermediate_count) + "," + csv_number(t.latest_default) + "," +
           csv_number(t.final_default) + "," +
           csv_field(t.final_value ? t.final_value->dump() : "") + "," + format_time(t.started_at) +
           "," + format_time(t.ended_at) + "," +
           (t.started_at && t.ended_at ? csv_number(t.duration(0)) : "") + "," +
           (t.exit_code ? std::to_string(*t.exit_code) : "") + "," +
           (t.signal ? std::to_string(*t.signal) : "") + "," + (t.interrupted ? "1" : "0") + "," +
           csv_field(t.reason) + "\r\n";
  }
  return out;
}

nlohmann::ordered_json export_json(const ExperimentRecord& experiment,
                                   const std::vector<TrialRecord>& trials,
                                   const std::vector<MetricRecord>& metrics, OptimizeMode mode) {
  using oj = nlohmann::ordered_json;
  auto opt = [](const auto& v) { return v ? oj(*v) : oj(nullptr); };
  oj out = oj::object();
  out["experiment"] = {{"id", experiment.id},
                       {"name", experiment.name},
                       {"status", experiment.status},
                       {"end_reason", experiment.end_reason},
                       {"created_at", format_time(experiment.created_at)},
                       {"updated_at", format_time(experiment.updated_at)},
                       {"elapsed_s", experiment.elapsed_s},
                       {"sessions", experiment.sessions},
                       {"seed", experiment.seed},
                       {"optimize_mode", mode == OptimizeMode::kMaximize ? "maximize" : "minimize"},
                       {"config", experiment.config}};
  const auto best = best_trial(trials, mode);
  out["best"] = best ? oj{{"trial_id", best->trial_id},
                          {"sequence", best->sequence},
                          {"final_default", *best->final_default},
                          {"parameters", best->parameters}}
                     : oj(nullptr);
  std::map<std::string, std::vector<const MetricRecord*>> by_trial;
  for (const MetricRecord& m : metrics) by_trial[m.trial_id].push_back(&m);
  oj list = oj::array();
  for (const TrialRecord& t : trials) {
    // When each result arrived, in seconds after the experiment was created: the
    // search curve (best result against wall time, bench/plot_search.py) needs them.
    oj intermediate = oj::array();
    oj intermediate_s = oj::array();
    oj final_s = nullptr;
    for (const MetricRecord* m : by_trial[t.trial_id]) {
      const double at = m->received_at - experiment.created_at;
      if (m->type == MetricType::kPeriodical) {
        intermediate.push_back(oj(m->value));
        intermediate_s.push_back(at);
      } else {
        final_s = at;
      }
    }
    list.push_back({{"trial_id", t.trial_id},
                    {"sequence", t.sequence},
                    {"status", t.status},
                    {"attempt", t.attempt},
                    {"parameter_id", t.parameter_id},
                    {"parameters", t.parameters},
                    {"final", t.final_value ? oj(*t.final_value) : oj(nullptr)},
                    {"final_default", opt(t.final_default)},
                    {"final_s", final_s},
                    {"intermediate", intermediate},
                    {"intermediate_s", intermediate_s},
                    {"started_at", t.started_at ? oj(format_time(t.started_at)) : oj(nullptr)},
                    {"ended_at", t.ended_at ? oj(format_time(t.ended_at)) : oj(nullptr)},
                    {"duration_s", t.started_at ? oj(t.duration(unix_now())) : oj(nullptr)},
                    {"exit_code", opt(t.exit_code)},
                    {"signal", opt(t.signal)},
                    {"interrupted", t.interrupted},
                    {"reason", t.reason}});
  }
  out["trials"] = list;
  return out;
}

}  // namespace nnilib
