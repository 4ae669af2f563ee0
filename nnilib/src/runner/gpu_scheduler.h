// GPUs for trials, as NNI 3.0's local training service hands them out
// (ts/nni_manager/common/gpu_scheduler): a trial that needs trialGpuNumber /
// maxTrialNumberPerGpu GPUs gets the least loaded ones, waits while none is free, and
// sees only its own through CUDA_VISIBLE_DEVICES. The GPUs come from nvidia-smi (or the
// program $NNILIB_NVIDIA_SMI names, which is how the tests fake a machine). Private to
// the runner.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace nnilib {

/// One GPU as nvidia-smi reports it.
struct GpuInfo {
  int index = 0;
  std::string uuid;
  double memory_used = 0;  ///< fraction of its memory in use, 0..1
  double utilization = 0;  ///< fraction of its compute in use, 0..1
  bool active = false;     ///< a compute process runs on it
};

/// The GPUs of this machine: runs `nvidia_smi --query-gpu=... --format=csv,noheader,nounits`
/// and `--query-compute-apps=...` (at most `timeout` each, at most 1 MiB of output).
/// Throws ParamError naming the program when it cannot be run, fails, times out or
/// prints something that is not its CSV.
std::vector<GpuInfo> query_gpus(const std::string& nvidia_smi,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// The nvidia-smi to run: $NNILIB_NVIDIA_SMI when set, else "nvidia-smi".
std::string nvidia_smi_program();

/// NNI's GPU scheduler. A share below 1 is a fraction of one GPU (trialGpuNumber 1 with
/// maxTrialNumberPerGpu 3: a third); 1 or more is that many whole GPUs.
class GpuScheduler {
 public:
  /// `only`: the GPUs trials may use (gpuIndices; empty: every one); `use_active`:
  /// whether a GPU that runs another program's compute process may be used
  /// (useActiveGpu).
  GpuScheduler(std::vector<GpuInfo> gpus, std::vector<int> only, bool use_active);

  /// How many GPUs trials may use at all (gpuIndices that exist).
  int usable() const;

  /// Takes new readings (activity, memory, load); what trials hold is kept.
  void update(const std::vector<GpuInfo>& gpus);

  /// The GPUs for a trial needing `share`, sorted, and held until release(); nullopt
  /// when they are not free now. Preference: least held by trials, then not active,
  /// then least memory used, then least load, then lowest index.
  std::optional<std::vector<int>> acquire(double share);
  /// Gives back what acquire() returned for `share`.
  void release(const std::vector<int>& gpus, double share);

 private:
  struct Gpu {
    GpuInfo info;
    double held = 0;  // trials' shares on it
  };
  bool allowed(int index) const;  // among gpuIndices (all when none were given)
  std::vector<const Gpu*> candidates() const;
  Gpu* find(int index);

  std::vector<Gpu> gpus_;
  std::vector<int> only_;
  bool use_active_;
};

/// "0,2,3": a CUDA_VISIBLE_DEVICES value.
std::string cuda_visible_devices(const std::vector<int>& gpus);

}  // namespace nnilib
