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

// The probe's time budget: after this, no new pair of steps starts once one pair is timed.
constexpr double kProbeBudgetMs = 1000;
// A pair whose times differ by more than this factor decides: noise between two steps
// a few milliseconds apart is far smaller, so more pairs would not change the answer.
constexpr double kDecisiveRatio = 1.25;
// Float32 warm-up: steps until one takes more than kSettled of the one before (at most
// kMaxFp32WarmUps after the first).
constexpr double kSettled = 0.9;
constexpr int kMaxFp32WarmUps = 4;

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
  double spent = 0;
  const auto step = [&](bool bf16) {
    throw_if_cancelled(stop, "interrupted during the precision probe");
    const double ms = step_ms(model, optimizer, x, y, bf16, device);
    spent += ms;
    return ms;
  };
  PrecisionProbe probe;
  step(false);  // warm-up: oneDNN creates its kernels
  try {
    step(true);
  } catch (const c10::Error&) {
    probe.bf16_works = false;  // e.g. a GPU without bfloat16 support
    probe.fp32_ms = step(false);
    probe.total_ms = spent;
    return probe;
  }
  // Float32 steps after a bf16 one still pay for something for a few steps (on a Zen 5,
  // a SiLU model with a 5x5 depthwise convolution took 108, 58, then 39-40 ms a step):
  // more float32 steps until one is no longer clearly faster than the one before, so
  // that no pair is decided by a float32 step still warming up (it chose bf16 for that
  // model, which trained 1.35x faster in float32).
  double last = step(false);
  for (int i = 0; i < kMaxFp32WarmUps; ++i) {
    const double ms = step(false);
    if (ms > kSettled * last) break;
    last = ms;
  }
  probe.fp32_ms = probe.bf16_ms = 1e30;
  // Alternate, so that a drift of the machine (another process starting) hits both alike;
  // the best of each (the least disturbed). Up to three pairs: fewer when one is decisive
  // or the probe has taken its budget.
  const auto decided = [&] {
    const double ratio = probe.fp32_ms / probe.bf16_ms;
    return ratio > kDecisiveRatio || ratio < 1 / kDecisiveRatio || spent >= kProbeBudgetMs;
  };
  do {
    probe.fp32_ms = std::min(probe.fp32_ms, step(false));
    probe.bf16_ms = std::min(probe.bf16_ms, step(true));
    ++probe.pairs;
  } while (probe.pairs < 3 && !decided());
  probe.total_ms = spent;
  return probe;
}

}  // namespace nnilib
