// NNI's Medianstop assessor (medianstop_assessor.py) and the assessor factory.
#include <algorithm>

#include "nnilib/common/json_text.h"
#include "nnilib/tuner/assessor.h"
#include "tuner/tuner_detail.h"

namespace nnilib {

Assessor::~Assessor() = default;

std::optional<OptimizeMode> Assessor::optimize_mode() const { return std::nullopt; }

OptimizeMode ranking_mode(const Tuner& tuner, const Assessor* assessor) {
  if (const auto mode = tuner.optimize_mode()) return *mode;
  if (assessor != nullptr) {
    if (const auto mode = assessor->optimize_mode()) return *mode;
  }
  return OptimizeMode::kMaximize;
}

MedianstopAssessor::MedianstopAssessor(OptimizeMode mode, int start_step)
    : high_better_(mode == OptimizeMode::kMaximize),
      start_step_(static_cast<std::size_t>(std::max(start_step, 0))) {}

AssessResult MedianstopAssessor::assess_trial(const std::string& trial_id,
                                              const std::vector<double>& history) {
  const std::size_t step = history.size();
  if (step < start_step_ || step == 0) return AssessResult::kGood;
  // Remember the results (only from start_step on, like NNI) for trial_end().
  std::vector<double>& seen = running_[trial_id];
  if (seen.size() < history.size())
    seen.insert(seen.end(), history.begin() + seen.size(), history.end());

  const double best = high_better_ ? *std::max_element(history.begin(), history.end())
                                   : *std::min_element(history.begin(), history.end());
  std::vector<double> averages;  // completed trials' running averages at this step
  for (const auto& [id, avg] : completed_)
    if (avg.size() >= step) averages.push_back(avg[step - 1]);
  if (averages.empty()) return AssessResult::kGood;
  std::sort(averages.begin(), averages.end());
  // NNI takes the lower median when maximizing, the upper one when minimizing.
  if (high_better_)
    return best < averages[(averages.size() - 1) / 2] ? AssessResult::kBad : AssessResult::kGood;
  return best > averages[averages.size() / 2] ? AssessResult::kBad : AssessResult::kGood;
}

void MedianstopAssessor::trial_end(const std::string& trial_id, bool succeeded) {
  auto it = running_.find(trial_id);
  if (it == running_.end()) return;
  if (succeeded) {
    std::vector<double>& avg = completed_[trial_id];
    avg.clear();
    double sum = 0;
    for (std::size_t k = 0; k < it->second.size(); ++k) {
      sum += it->second[k];
      avg.push_back(sum / static_cast<double>(k + 1));
    }
  }
  running_.erase(it);
}

std::unique_ptr<Assessor> make_assessor(const std::string& name, const nlohmann::json& class_args) {
  using tuner_detail::ClassArgs;
  const std::string key = tuner_detail::lower(name);
  if (key == "medianstop") {
    const ClassArgs a("assessor", "Medianstop", class_args, {"optimize_mode", "start_step"});
    const OptimizeMode mode = a.optimize_mode(OptimizeMode::kMaximize);
    const auto start = static_cast<int>(a.integer("start_step", 0, 0, 9999));
    return std::make_unique<MedianstopAssessor>(mode, start);
  }
  const bool known = key == "curvefitting";
  throw ParamError("assessor " + json_quote(name) +
                   (known ? ": an NNI assessor that is not embedded here (run it with nnictl)"
                          : ": unknown assessor") +
                   "; embedded assessors: Medianstop");
}

}  // namespace nnilib
