#include "runner/gpu_slots.h"

#include <algorithm>
#include <cmath>

#include "nnilib/common/error.h"
#include "nnilib/runner/runner.h"

namespace nnilib {

std::optional<GpuSlots> GpuSlots::open(const ExperimentConfig& config) {
  const int want = config.trial_gpu_number.value_or(0);
  if (want == 0) return std::nullopt;
  const std::string what = config.config_path + ": trialGpuNumber " + std::to_string(want);
  std::vector<GpuInfo> info;
  try {
    info = query_gpus(nvidia_smi_program());
  } catch (const ParamError& e) {
    throw ParamError(what + " needs this machine's GPUs, and " + e.what());
  }
  std::vector<int> indices;
  for (const GpuInfo& g : info) indices.push_back(g.index);
  const std::string listed = cuda_visible_devices(indices);  // "0,1,2"
  for (int index : config.gpu_indices)
    if (std::none_of(info.begin(), info.end(), [&](const GpuInfo& g) { return g.index == index; }))
      throw ParamError(config.config_path + ": gpuIndices names GPU " + std::to_string(index) +
                       ", which nvidia-smi does not list (" +
                       (listed.empty() ? "no GPU" : "GPUs " + listed) + ")");
  GpuSlots slots(GpuScheduler(std::move(info), config.gpu_indices, config.use_active_gpu),
                 static_cast<double>(want) / config.max_trial_number_per_gpu);
  const int needed = slots.share_ < 1 ? 1 : static_cast<int>(std::lround(slots.share_));
  if (needed > slots.scheduler_.usable())
    throw ParamError(what + " needs " + std::to_string(needed) + " GPU(s) per trial; " +
                     std::to_string(slots.scheduler_.usable()) + " can be used (" +
                     (listed.empty() ? "no GPU" : "GPUs " + listed) +
                     (config.gpu_indices.empty() ? "" : ", gpuIndices") + ")");
  return slots;
}

GpuSlots::GpuSlots(GpuScheduler scheduler, double share)
    : scheduler_(std::move(scheduler)), share_(share) {}

std::optional<std::vector<int>> GpuSlots::acquire(
    const std::function<void(const std::string&)>& note) {
  const auto now = std::chrono::steady_clock::now();
  if (now - read_ >= std::chrono::seconds(5)) {
    read_ = now;
    try {
      scheduler_.update(query_gpus(nvidia_smi_program()));
    } catch (const ParamError& e) {
      note(std::string("GPU readings not renewed: ") + e.what());
    }
  }
  auto got = scheduler_.acquire(share_);
  if (!got && !waiting_) note("waiting for a free GPU");
  waiting_ = !got;
  return got;
}

void GpuSlots::release(const std::vector<int>& gpus) { scheduler_.release(gpus, share_); }

std::optional<std::string> final_training_gpus(const ExperimentConfig& config) {
  if (!config.trial_gpu_number) return std::nullopt;
  std::vector<int> gpus;
  for (int k = 0; k < *config.trial_gpu_number; ++k) {
    if (config.gpu_indices.empty()) {
      gpus.push_back(k);
    } else if (k < static_cast<int>(config.gpu_indices.size())) {
      gpus.push_back(config.gpu_indices[static_cast<std::size_t>(k)]);
    }
  }
  return cuda_visible_devices(gpus);
}

}  // namespace nnilib
