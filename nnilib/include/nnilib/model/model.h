// The LibTorch CNN built from a ModelSpec. (Includes torch.)
#pragma once

#include <torch/torch.h>

#include "nnilib/model/block_kind.h"
#include "nnilib/model/model_spec.h"

namespace nnilib {

/// A k x k convolution (or a depthwise k x k followed by a pointwise 1x1 when
/// separable), then batch norm when asked for.
class ConvUnitImpl : public torch::nn::Module {
 public:
  /// `groups` > 1: a grouped convolution (in_channels groups: depthwise); not separable.
  ConvUnitImpl(int in_channels, int out_channels, int kernel_size, int padding, bool separable,
               bool batch_norm, int groups = 1);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d depthwise_{nullptr};
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d norm_{nullptr};
};
TORCH_MODULE(ConvUnit);

/// One convolution block of a ModelSpec, as its kind lays it out (block_kind.h): the
/// chain of convolution units with the activation between them, the skip, the last
/// activation, the pooling. The units are registered under the names the kind gives.
class ConvBlockImpl : public torch::nn::Module {
 public:
  ConvBlockImpl(int in_channels, const ConvBlockSpec& spec);
  torch::Tensor forward(torch::Tensor x);

 private:
  ConvBlockSpec spec_;
  bool skip_ = false;
  bool activation_after_ = true;
  std::vector<ConvUnit> chain_;
  ConvUnit shortcut_{nullptr};  ///< a skip that changes the channel count
};
TORCH_MODULE(ConvBlock);

/// Convolution blocks -> head (flatten or global average pooling) -> [hidden
/// Linear] -> dropout -> Linear(classes), as described by a ModelSpec.
/// Device-agnostic: move it with `->to(device)`.
class CnnImpl : public torch::nn::Module {
 public:
  explicit CnnImpl(const ModelSpec& spec);
  /// [B, C, H, W] -> logits [B, num_classes]
  torch::Tensor forward(torch::Tensor x);
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::Linear hidden_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear output_{nullptr};
};
TORCH_MODULE(Cnn);

/// Loads saved weights (a model.pt written for the same spec) into `model`, onto
/// `device`. Throws ParamError naming the file when it is missing or holds the weights of
/// another architecture.
void load_weights(Cnn& model, const std::string& path, const torch::Device& device);

/// `t` (4-d) in NHWC memory order with strides that say so. Unlike
/// `contiguous(ChannelsLast)`, which leaves a one-channel NCHW tensor as it is (its
/// strides fit both orders), so that LibTorch then treats it, and everything computed
/// from it, as NCHW: the first convolution of a grey-image model would run, pool and
/// normalise in the slow NCHW order. No copy when `t` already has NHWC strides.
torch::Tensor to_nhwc(const torch::Tensor& t);

/// `a` applied to `x` as the model applies it: LibTorch's own function, except where its
/// CPU kernel is slow (GELU on a channels-last tensor runs on its contiguous N,H,W,C
/// permutation; bf16 SiLU is computed in float32), with gradients when `x` needs them.
/// ReLU and leaky ReLU work in place.
torch::Tensor activate(Activation a, torch::Tensor x);

/// Moves the 4-d parameters (convolution weights) of `module` to NHWC (to_nhwc), in place.
void to_channels_last(torch::nn::Module& module);

/// Number of trainable parameters of a module.
int64_t count_parameters(torch::nn::Module& module);

/// Multiply-accumulates per image of `model`'s convolutions and Linear layers,
/// counted during a real forward pass of one image (in evaluation mode) from the
/// tensors' actual shapes. Checks estimate_cost().
int64_t count_forward_macs(Cnn& model);

}  // namespace nnilib
