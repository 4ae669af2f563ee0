// Private to the trainer: an RAII scope of LibTorch autocast (mixed precision), the C++
// counterpart of Python's `with torch.autocast(device_type, dtype):`. (Includes torch.)
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

namespace nnilib {

/// Inside the scope, autocast-eligible ops (convolutions, Linear, matmul) on `device`
/// run in `dtype` with float32 weights cast on the fly (cast once per scope and cached);
/// ops autocast keeps in float32 stay there. Disabled when `enabled` is false. The
/// backward pass runs outside the scope, as in PyTorch. Not for nesting across threads.
class AutocastScope {
 public:
  AutocastScope(bool enabled, const torch::Device& device, at::ScalarType dtype)
      : enabled_(enabled), cuda_(device.is_cuda()) {
    if (!enabled_) return;
    if (cuda_) {
      previous_enabled_ = at::autocast::is_enabled();
      previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(true);
    } else {
      previous_enabled_ = at::autocast::is_cpu_enabled();
      previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(true);
    }
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!enabled_) return;
    // The cached low-precision copies of the weights are stale after an optimizer step.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    if (cuda_) {
      at::autocast::set_enabled(previous_enabled_);
      at::autocast::set_autocast_gpu_dtype(previous_dtype_);
    } else {
      at::autocast::set_cpu_enabled(previous_enabled_);
      at::autocast::set_autocast_cpu_dtype(previous_dtype_);
    }
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  bool cuda_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

}  // namespace nnilib
