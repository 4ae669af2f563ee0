// A running trial's progress inside its epoch, as a small file in its output
// directory that a runner reads (this project's own, not NNI's: NNI's channel carries
// only whole results). fmnist-trial rewrites it every few seconds; fmnist-nas shows it
// in its table.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace nnilib {

/// The file's name in the trial's output directory (NNI_OUTPUT_DIR).
inline constexpr const char* kProgressFile = "progress.json";

/// Where a trial is: the epoch it trains (1-based) of how many, batches done of the
/// epoch's, its training speed and the time it expects to need still (0: unknown).
struct TrialProgress {
  int epoch = 0;
  int epochs = 0;
  long long batch = 0;
  long long batches = 0;
  double images_per_second = 0;
  double eta_seconds = 0;
  double time = 0;  ///< Unix time it was written

  nlohmann::json to_json() const;
  /// "e3/9 47% 312/s 1:20" (epoch, share of it done, images per second, time left).
  std::string brief() const;
};

/// Writes `<dir>/progress.json` atomically (not flushed to disk: it is rewritten
/// often). Throws IoError naming the file.
void write_trial_progress(const std::string& dir, const TrialProgress& progress);

/// Reads `<dir>/progress.json`: nullopt when it is missing, larger than 4 KiB, not the
/// JSON object above or has numbers out of range (a trial's file is not trusted).
std::optional<TrialProgress> read_trial_progress(const std::string& dir);

}  // namespace nnilib
