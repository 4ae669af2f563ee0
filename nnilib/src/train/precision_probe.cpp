// The speed probe behind --precision auto where the CPU's features do not decide.
#include <algorithm>
#include <chrono>
#include <optional>

#include "nnilib/common/cancellation.h"
#include "nnilib/common/error.h"

#include "nnilib/model/model.h"
#include "nnilib/train/precision.h"
#include "train/autocast.h"

namespace nnilib {
namespace {

// One training step as the trial runs it: forward (under autocast for bf16), the loss in
// float32, backward, the optimizer's update of the float32 weights.
double step_ms(Cnn& model, torch::optim::Optimizer& optimizer, const torch::Tensor& x,
               const torch::Tensor& y, bool bf16, const torch::Device& device) {
  const auto t = std::chrono::steady_clock::now();
  optimizer.zero_grad();
  {
    torch::Tensor loss;
    {
      AutocastScope autocast(bf16, device, at::kBFloat16);
      loss = torch::nn::functional::cross_entropy(model->forward(x).to(torch::kFloat), y);
    }
    loss.backward();
  }
  optimizer.step();
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

PrecisionProbe probe_precision(const ModelSpec& spec, const std::string& device_name,
                               int batch_size, const std::function<bool()>& stop) {
  const torch::Device device(device_name);
  torch::manual_seed(0);
  Cnn model(spec);
  model->to(device);
  to_channels_last(*model);
  model->train();
  // The optimizer's kind barely matters (its update is float32 in both precisions).
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-6));
  // The trial's own batch size: bf16's fixed costs per step (casting the weights,
  // reorders) weigh more on small batches, so a smaller probe batch favours fp32.
  const int64_t batch = std::clamp<int64_t>(batch_size, 1, 512);
  const torch::Tensor x =
      to_nhwc(torch::randn({batch, spec.in_channels, spec.in_height, spec.in_width}, device));
  const torch::Tensor y = torch::randint(0, spec.num_classes, {batch},
                                         torch::TensorOptions().dtype(torch::kLong).device(device));
  // A step's c10::Error in bf16 means bf16 does not run here (e.g. a GPU without it).
  return run_precision_probe([&](bool bf16) -> std::optional<double> {
    throw_if_cancelled(stop, "interrupted during the precision probe");
    if (!bf16) return step_ms(model, optimizer, x, y, false, device);
    try {
      return step_ms(model, optimizer, x, y, true, device);
    } catch (const c10::Error&) {
      return std::nullopt;
    }
  });
}

}  // namespace nnilib
