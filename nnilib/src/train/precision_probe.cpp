// The speed probe behind --precision auto where the CPU's features do not decide.
#include <algorithm>
#include <chrono>

#include "nnilib/common/cancellation.h"
#include "nnilib/common/error.h"

#include "nnilib/model/model.h"
#include "nnilib/train/precision.h"
#include "train/autocast.h"

namespace nnilib {
namespace {

// Forward + backward of one batch (the optimizer step costs the same in both precisions).
double step_ms(Cnn& model, const torch::Tensor& x, const torch::Tensor& y, bool bf16,
               const torch::Device& device) {
  const auto t = std::chrono::steady_clock::now();
  {
    torch::Tensor loss;
    {
      AutocastScope autocast(bf16, device, at::kBFloat16);
      loss = torch::nn::functional::cross_entropy(model->forward(x).to(torch::kFloat), y);
    }
    loss.backward();
  }
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

PrecisionProbe probe_precision(const ModelSpec& spec, const std::string& device_name,
                               const std::function<bool()>& stop) {
  const torch::Device device(device_name);
  torch::manual_seed(0);
  Cnn model(spec);
  model->to(device);
  to_channels_last(*model);
  model->train();
  // About 1.5 GFLOP per step (forward MACs x 2 x 3): ~10-20 ms per core in float32.
  const double flops_per_image =
      6.0 * static_cast<double>(std::max<int64_t>(1, estimate_cost(spec).macs));
  const int64_t batch = std::clamp<int64_t>(static_cast<int64_t>(1.5e9 / flops_per_image), 8, 64);
  const torch::Tensor x =
      to_nhwc(torch::randn({batch, spec.in_channels, spec.in_height, spec.in_width}, device));
  const torch::Tensor y = torch::randint(0, spec.num_classes, {batch},
                                         torch::TensorOptions().dtype(torch::kLong).device(device));
  const auto step = [&](bool bf16) {
    throw_if_cancelled(stop, "interrupted during the precision probe");
    return step_ms(model, x, y, bf16, device);
  };
  PrecisionProbe probe;
  step(false);  // warm-up: oneDNN creates its kernels
  try {
    step(true);
  } catch (const c10::Error&) {
    probe.bf16_works = false;  // e.g. a GPU without bfloat16 support
    probe.fp32_ms = step(false);
    return probe;
  }
  probe.fp32_ms = probe.bf16_ms = 1e30;
  for (int i = 0; i < 3; ++i) {  // alternate, so a drift of the machine hits both alike
    probe.fp32_ms = std::min(probe.fp32_ms, step(false));
    probe.bf16_ms = std::min(probe.bf16_ms, step(true));
  }
  return probe;
}

}  // namespace nnilib
