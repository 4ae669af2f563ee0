// One successive-halving bracket, as NNI's Hyperband and BOHB advisors run them
// (Li et al., JMLR 2018), and the ranking of results that every multi-fidelity tuner
// shares. Private to the tuner sources.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "nnilib/tuner/tuner.h"

namespace nnilib::tuner_detail {

/// Whether result `a` ranks before result `b` under `mode`.
bool ranks_before(OptimizeMode mode, double a, double b);

/// Bracket s of s_max + 1: n = ceil((s_max + 1) eta^s / (s + 1)) configurations start at
/// r = max_budget / eta^s; round i runs floor(n / eta^i) of them for r eta^i, and a round's
/// best go on to the next once every trial of the round has ended. Configurations are
/// the caller's counters; results are kept per round.
class HalvingBracket {
 public:
  HalvingBracket(int s, int s_max, int eta, double max_budget);

  int s() const { return s_; }
  /// The round start_round() starts next.
  std::size_t next_round() const { return round_; }
  /// Configurations of the next round: floor(n / eta^round) (NNI's get_n_r).
  std::int64_t next_size() const;
  /// Budget of the next round: r eta^round (Hyperband floors it, BOHB does not).
  double next_budget() const;
  /// Starts the next round with `count` trials (0 ends the bracket).
  void start_round(std::size_t count);
  /// Whether the bracket has started its last round.
  bool no_more_rounds() const;

  /// Records a result of configuration `counter` in `round`.
  void record(std::size_t round, std::int64_t counter, double value);
  /// Records that a trial of `round` ended; true when that was the round's last one and a
  /// next round is due (promote() names its configurations).
  bool end_trial(std::size_t round);
  /// The next round's configurations: the best next_size() of `round`'s results.
  std::vector<std::int64_t> promote(std::size_t round, OptimizeMode mode) const;

 private:
  int s_, eta_;
  double n_, r_;
  std::size_t round_ = 0;
  std::vector<std::size_t> to_run_, finished_;
  std::vector<std::map<std::int64_t, double>> perf_;  // per round: counter -> result
};

}  // namespace nnilib::tuner_detail
