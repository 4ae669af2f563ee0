#include "train/weight_average.h"

#include <algorithm>

namespace nnilib {

WeightAverage::WeightAverage(Cnn& model, double decay) : decay_(decay) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : model->parameters()) live_.push_back(p);
  for (const torch::Tensor& b : model->buffers())
    if (b.is_floating_point()) live_.push_back(b);  // not the batch counters
  // clone() keeps each tensor's memory format (channels-last weights stay so).
  for (const torch::Tensor& t : live_) average_.push_back(t.detach().clone());
}

double WeightAverage::decay_at(double decay, int64_t steps) {
  const double n = static_cast<double>(std::max<int64_t>(0, steps - 1));
  return std::min(decay, (1.0 + n) / (10.0 + n));
}

void WeightAverage::update(int64_t steps) {
  torch::NoGradGuard no_grad;
  const double d = decay_at(decay_, steps);
  std::vector<torch::Tensor> live;
  live.reserve(live_.size());
  for (const torch::Tensor& t : live_) live.push_back(t.detach());
  // Two fused passes over all tensors (LibTorch 1.13 has no _foreach_lerp_).
  at::_foreach_mul_(average_, d);
  at::_foreach_add_(average_, live, 1.0 - d);
}

void WeightAverage::swap() {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < live_.size(); ++i) {
    torch::Tensor model_data = live_[i].detach().clone(at::MemoryFormat::Preserve);
    live_[i].detach().copy_(average_[i]);
    average_[i] = model_data;
  }
}

}  // namespace nnilib
