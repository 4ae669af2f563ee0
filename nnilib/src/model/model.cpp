#include "nnilib/model.h"

namespace nnilib {
namespace {

torch::nn::AnyModule activation(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return torch::nn::AnyModule(torch::nn::ReLU(torch::nn::ReLUOptions(/*inplace=*/true)));
  }
  throw std::logic_error("unknown activation");
}

}  // namespace

CnnImpl::CnnImpl(const ModelSpec& spec) : spec_(spec) {
  const CostEstimate cost = estimate_cost(spec);  // validates; throws ParamError with the culprit
  features_ = torch::nn::Sequential();
  int in_channels = spec.in_channels;
  for (const ConvBlockSpec& b : spec.blocks) {
    features_->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in_channels, b.out_channels, /*kernel_size=*/b.kernel_size)
            .padding(b.padding)));
    // ReLU and max pooling commute (both are monotone): pooling first gives the same
    // output and gradients while the activation touches 4x fewer values.
    const bool pool_first = b.pool == Pool::kMax && b.activation == Activation::kRelu;
    if (!pool_first) features_->push_back(activation(b.activation));
    if (b.pool == Pool::kMax) {
      features_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(b.pool_size)));
    } else if (b.pool == Pool::kAvg) {
      features_->push_back(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(b.pool_size)));
    }
    if (pool_first) features_->push_back(activation(b.activation));
    in_channels = b.out_channels;
  }
  const FeatureShape last = cost.shapes.empty()
                                ? FeatureShape{spec.in_channels, spec.in_height, spec.in_width}
                                : cost.shapes.back();
  int64_t features = int64_t{last.channels} * last.height * last.width;
  classifier_ = torch::nn::Sequential();
  if (spec.hidden_units > 0) {
    classifier_->push_back(torch::nn::Linear(features, spec.hidden_units));
    classifier_->push_back(activation(spec.hidden_activation));
    features = spec.hidden_units;
  }
  classifier_->push_back(torch::nn::Linear(features, spec.num_classes));
  register_module("features", features_);
  register_module("classifier", classifier_);
}

torch::Tensor CnnImpl::forward(torch::Tensor x) {
  // Flatten in (height, width, channel) order: free for channels-last feature maps (the
  // fast layout for oneDNN on CPU), one copy otherwise. The classifier's first Linear
  // simply sees its inputs in that fixed order.
  return classifier_->forward(features_->forward(x).permute({0, 2, 3, 1}).flatten(1));
}

int64_t count_parameters(torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) {
    if (p.requires_grad()) n += p.numel();
  }
  return n;
}

}  // namespace nnilib
