#include "tuner/halving_bracket.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace nnilib::tuner_detail {

namespace {
constexpr double kEpsilon = 1e-6;  // NNI's _epsilon
}  // namespace

bool ranks_before(OptimizeMode mode, double a, double b) {
  return mode == OptimizeMode::kMaximize ? a > b : a < b;
}

HalvingBracket::HalvingBracket(int s, int s_max, int eta, double max_budget)
    : s_(s),
      eta_(eta),
      n_(std::ceil((s_max + 1) * std::pow(eta, s) / (s + 1) - kEpsilon)),
      r_(max_budget / std::pow(eta, s)) {}

std::int64_t HalvingBracket::next_size() const {
  return static_cast<std::int64_t>(
      std::floor(n_ / std::pow(eta_, static_cast<double>(round_)) + kEpsilon));
}

double HalvingBracket::next_budget() const {
  return r_ * std::pow(eta_, static_cast<double>(round_));
}

void HalvingBracket::start_round(std::size_t count) {
  to_run_.push_back(count);
  finished_.push_back(0);
  perf_.emplace_back();
  ++round_;
  if (count == 0) round_ = static_cast<std::size_t>(s_) + 1;  // nothing left to promote
}

bool HalvingBracket::no_more_rounds() const { return round_ > static_cast<std::size_t>(s_); }

void HalvingBracket::record(std::size_t round, std::int64_t counter, double value) {
  perf_.at(round)[counter] = value;
}

bool HalvingBracket::end_trial(std::size_t round) {
  finished_.at(round) += 1;
  return finished_[round] >= to_run_[round] && !no_more_rounds();
}

std::vector<std::int64_t> HalvingBracket::promote(std::size_t round, OptimizeMode mode) const {
  std::vector<std::pair<std::int64_t, double>> ranked(perf_.at(round).begin(),
                                                      perf_.at(round).end());
  std::stable_sort(ranked.begin(), ranked.end(), [mode](const auto& x, const auto& y) {
    return ranks_before(mode, x.second, y.second);
  });
  std::vector<std::int64_t> best;
  for (std::size_t k = 0; k < ranked.size() && static_cast<std::int64_t>(k) < next_size(); ++k)
    best.push_back(ranked[k].first);
  return best;
}

}  // namespace nnilib::tuner_detail
