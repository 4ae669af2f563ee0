// Private to the runner: a session's GPUs when trials ask for some (trialGpuNumber > 0):
// the machine's GPUs read once and checked against what a trial needs, then handed out
// to trials by NNI's rules (gpu_scheduler.h) with readings renewed while they wait.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nnilib/runner/experiment_config.h"
#include "runner/gpu_scheduler.h"

namespace nnilib {

/// The GPUs trials of one session get.
class GpuSlots {
 public:
  /// Reads the machine's GPUs (nvidia_smi_program()) and checks that a trial's share can
  /// ever be met; nullopt when the config asks for none (trialGpuNumber unset or 0).
  /// Throws ParamError naming the config's trialGpuNumber or gpuIndices.
  static std::optional<GpuSlots> open(const ExperimentConfig& config);

  /// The GPUs for the next trial, held until release(); nullopt while they are busy
  /// (`note` is told once, "waiting for a free GPU"). Readings older than 5 s are
  /// taken again first: another program may have started or ended.
  std::optional<std::vector<int>> acquire(const std::function<void(const std::string&)>& note);
  /// Gives back what acquire() returned.
  void release(const std::vector<int>& gpus);

 private:
  GpuSlots(GpuScheduler scheduler, double share);

  GpuScheduler scheduler_;
  double share_;  ///< GPUs per trial: trialGpuNumber / maxTrialNumberPerGpu
  std::chrono::steady_clock::time_point read_ = std::chrono::steady_clock::now();
  bool waiting_ = false;
};

}  // namespace nnilib
