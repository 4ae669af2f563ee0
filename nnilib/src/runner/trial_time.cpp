#include "runner/trial_time.h"

#include <algorithm>
#include <cmath>

#include "nnilib/trial/progress.h"

namespace nnilib {

const TrialRecord* predecessor_of(const TrialRecord& t, const std::vector<TrialRecord>& trials) {
  const double budget = trial_budget(t.parameters);
  if (budget <= 0) return nullptr;
  const nlohmann::json config = configuration_of(t.parameters);
  const TrialRecord* best = nullptr;
  for (const TrialRecord& o : trials) {
    if (!o.final_default || o.status == kFailed || &o == &t || o.trial_id == t.trial_id) continue;
    const double b = trial_budget(o.parameters);
    if (b <= 0 || b >= budget || (best != nullptr && b <= trial_budget(best->parameters))) continue;
    if (configuration_of(o.parameters) == config) best = &o;
  }
  return best;
}

TrialTimes::TrialTimes(const std::vector<TrialRecord>& trials, bool continued)
    : trials_(trials), continued_(continued) {
  for (const TrialRecord& t : trials) {
    if (!t.finished() || t.status != kSucceeded || !t.started_at || !t.ended_at) continue;
    const double units = trained_units(t);
    const double seconds = *t.ended_at - *t.started_at;
    if (units > 0 && seconds > 0)
      rates_.push_back({configuration_of(t.parameters), seconds / units});
  }
}

double TrialTimes::trained_units(const TrialRecord& t) const {
  const double budget = trial_budget(t.parameters);
  if (budget <= 0) return 1;
  const TrialRecord* from = continued_ ? predecessor_of(t, trials_) : nullptr;
  return budget - (from != nullptr ? trial_budget(from->parameters) : 0.0);
}

std::optional<double> TrialTimes::configuration_rate(const TrialRecord& t) const {
  const nlohmann::json config = configuration_of(t.parameters);
  std::optional<double> rate;
  for (const Rate& r : rates_)
    if (r.configuration == config) rate = std::max(rate.value_or(0.0), r.seconds_per_unit);
  return rate;
}

std::optional<double> TrialTimes::expected_seconds(const TrialRecord& t) const {
  std::optional<double> rate = configuration_rate(t);
  if (!rate) {
    if (rates_.empty()) return std::nullopt;
    std::vector<double> all;
    for (const Rate& r : rates_) all.push_back(r.seconds_per_unit);
    std::sort(all.begin(), all.end());
    rate = all[std::min(all.size() - 1, static_cast<std::size_t>(0.9 * all.size()))];
  }
  return *rate * trained_units(t);
}

std::optional<double> seconds_left(const TrialRecord& t, const std::string& trial_dir,
                                   const TrialTimes& times, double now_unix) {
  // A fresh progress file: its time left (0 also when the last batch is done).
  if (const auto p = read_trial_progress(trial_dir);
      p && now_unix - p->time < 30 && (p->eta_seconds > 0 || p->batch >= p->batches))
    return std::max(0.0, p->eta_seconds * 1.15 + 2.0 - std::max(0.0, now_unix - p->time));
  const auto expected = times.expected_seconds(t);
  if (!expected || !t.started_at) return std::nullopt;
  return std::max(0.0, *expected - (now_unix - *t.started_at));
}

}  // namespace nnilib
