// The LibTorch CNN built from a ModelSpec. (Includes torch.)
#pragma once

#include <torch/torch.h>

#include "nnilib/model_spec.h"

namespace nnilib {

/// Convolution blocks -> flatten -> hidden Linear -> Linear(classes), as described
/// by a ModelSpec. Device-agnostic: move it with `->to(device)`.
class CnnImpl : public torch::nn::Module {
 public:
  explicit CnnImpl(const ModelSpec& spec);
  /// [B, C, H, W] -> logits [B, num_classes]
  torch::Tensor forward(torch::Tensor x);
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
};
TORCH_MODULE(Cnn);

/// Number of trainable parameters of a module.
int64_t count_parameters(torch::nn::Module& module);

}  // namespace nnilib
