#include "nnilib/model/model.h"

#include <filesystem>

#include "nnilib/common/error.h"

namespace nnilib {
namespace {

// Set by count_forward_macs() for the duration of one forward pass.
thread_local int64_t* g_mac_counter = nullptr;

torch::Tensor counted(const torch::Tensor& out, int64_t macs_per_output) {
  if (g_mac_counter != nullptr) *g_mac_counter += out.numel() / out.size(0) * macs_per_output;
  return out;
}

torch::Tensor conv_forward(torch::nn::Conv2d& conv, const torch::Tensor& x) {
  const auto& o = conv->options;
  const int64_t per_output =
      o.in_channels() / o.groups() * (*o.kernel_size())[0] * (*o.kernel_size())[1];
  return counted(conv->forward(x), per_output);
}

torch::Tensor linear_forward(torch::nn::Linear& linear, const torch::Tensor& x) {
  return counted(linear->forward(x), linear->options.in_features());
}

// LibTorch 1.13's CPU kernels of two activations leave most of their speed unused
// (per call at the worst case's shapes, 1 thread, AMD EPYC Zen 5; bench/activation_ops.py,
// docs/benchmarks.md "GELU and SiLU"):
// - GELU on a channels-last tensor is 5-16x slower, forward and backward, than on the
//   same values stored contiguously. It is element-wise, so it runs on the N,H,W,C
//   permutation of such a tensor: contiguous, the same memory, the same values.
// - SiLU in bfloat16 is 2.5x slower forward and 4x slower backward than in float32, so
//   a bf16 SiLU is computed in float32 and rounded to bf16 once.

// Whether x is a 4-D channels-last tensor whose N,H,W,C permutation is contiguous.
bool nhwc_only(const torch::Tensor& x) {
  return x.is_cpu() && x.dim() == 4 && !x.is_contiguous() &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}
torch::Tensor as_nhwc(const torch::Tensor& x) { return x.permute({0, 2, 3, 1}); }
torch::Tensor from_nhwc(const torch::Tensor& x) { return x.permute({0, 3, 1, 2}); }

torch::Tensor fast_gelu(const torch::Tensor& x) {
  return nhwc_only(x) ? from_nhwc(torch::gelu(as_nhwc(x))) : torch::gelu(x);
}

bool bf16_on_cpu(const torch::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == torch::kBFloat16;
}

torch::Tensor fast_silu(const torch::Tensor& x) {
  return bf16_on_cpu(x) ? torch::silu(x.to(torch::kFloat)).to(torch::kBFloat16) : torch::silu(x);
}

// GELU's backward also sees its gradient in the memory format of its input: LibTorch
// 1.13's CPU gelu_backward returns wrong values (reading uninitialised memory: NaN at
// random) when the two differ, as they do for block 1 of a channels-last model: its
// input has one channel, so its convolution's output is NCHW while the gradient coming
// back from block 2 is NHWC. (ReLU, SiLU and leaky ReLU are not affected.)
struct Gelu : torch::autograd::Function<Gelu> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return fast_gelu(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    const auto format = x.suggest_memory_format();
    const torch::Tensor g = grad[0].contiguous(format);
    if (nhwc_only(x)) return {from_nhwc(torch::gelu_backward(as_nhwc(g), as_nhwc(x)))};
    return {torch::gelu_backward(g, x.contiguous(format))};
  }
};

// bf16 SiLU on CPU, forward and backward computed in float32 (other SiLUs take LibTorch's own).
struct Silu : torch::autograd::Function<Silu> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return fast_silu(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    return {
        torch::silu_backward(grad[0].to(torch::kFloat), x.to(torch::kFloat)).to(torch::kBFloat16)};
  }
};

torch::Tensor pool(const ConvBlockSpec& b, const torch::Tensor& x) {
  switch (b.pool) {
    case Pool::kNone:
      return x;
    case Pool::kMax:
      return torch::max_pool2d(x, b.pool_size);
    case Pool::kAvg:
      return torch::avg_pool2d(x, b.pool_size);
  }
  throw std::logic_error("unknown pooling");
}

}  // namespace

torch::Tensor activate(Activation a, torch::Tensor x) {
  switch (a) {
    case Activation::kRelu:
      return torch::relu_(x);
    case Activation::kGelu:
      return x.requires_grad() ? Gelu::apply(x) : fast_gelu(x);
    case Activation::kSilu:
      return x.requires_grad() && bf16_on_cpu(x) ? Silu::apply(x) : fast_silu(x);
    case Activation::kLeakyRelu:
      return torch::leaky_relu_(x, 0.01);
  }
  throw std::logic_error("unknown activation");
}

ConvUnitImpl::ConvUnitImpl(int in_channels, int out_channels, int kernel_size, int padding,
                           bool separable, bool batch_norm, int groups) {
  if (separable) {
    depthwise_ = register_module(
        "depthwise", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, in_channels,
                                                                /*kernel_size=*/kernel_size)
                                           .padding(padding)
                                           .groups(in_channels)
                                           .bias(false)));
    conv_ = register_module("pointwise",
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels,
                                                                       /*kernel_size=*/1)
                                                  .bias(!batch_norm)));
  } else {
    conv_ = register_module("conv",
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels,
                                                                       /*kernel_size=*/kernel_size)
                                                  .padding(padding)
                                                  .groups(groups)
                                                  .bias(!batch_norm)));
  }
  if (batch_norm) norm_ = register_module("norm", torch::nn::BatchNorm2d(out_channels));
}

torch::Tensor ConvUnitImpl::forward(torch::Tensor x) {
  if (depthwise_) x = conv_forward(depthwise_, x);
  x = conv_forward(conv_, x);
  return norm_ ? norm_->forward(x) : x;
}

ConvBlockImpl::ConvBlockImpl(int in_channels, const ConvBlockSpec& spec) : spec_(spec) {
  const BlockLayout layout = layout_of(spec, in_channels);
  const auto unit = [&](const BlockUnit& u) {
    return register_module(u.name, ConvUnit(u.in_channels, u.out_channels, u.kernel_size, u.padding,
                                            u.separable, spec.batch_norm, u.groups));
  };
  for (const BlockUnit& u : layout.chain) chain_.push_back(unit(u));
  if (layout.shortcut) shortcut_ = unit(*layout.shortcut);
  skip_ = layout.skip;
  activation_after_ = layout.activation_after;
}

torch::Tensor ConvBlockImpl::forward(torch::Tensor x) {
  torch::Tensor y = x;
  for (std::size_t u = 0; u < chain_.size(); ++u) {
    y = chain_[u]->forward(y);
    if (u + 1 < chain_.size()) y = activate(spec_.activation, y);
  }
  if (skip_) y = y + (shortcut_ ? shortcut_->forward(x) : x);
  if (!activation_after_) return pool(spec_, y);  // a linear bottleneck
  // Max pooling commutes with a monotone activation (relu, leaky_relu): pooling first
  // gives the same output and gradients while the activation touches 4x fewer values.
  const bool monotone =
      spec_.activation == Activation::kRelu || spec_.activation == Activation::kLeakyRelu;
  if (spec_.pool == Pool::kMax && monotone) return activate(spec_.activation, pool(spec_, y));
  return pool(spec_, activate(spec_.activation, y));
}

CnnImpl::CnnImpl(const ModelSpec& spec) : spec_(spec) {
  const CostEstimate cost = estimate_cost(spec);  // validates; throws ParamError with the culprit
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  int in_channels = spec.in_channels;
  for (const ConvBlockSpec& b : spec.blocks) {
    blocks_->push_back(ConvBlock(in_channels, b));
    in_channels = b.out_channels;
  }
  const FeatureShape last = cost.shapes.empty()
                                ? FeatureShape{spec.in_channels, spec.in_height, spec.in_width}
                                : cost.shapes.back();
  int64_t features = spec.head == Head::kGlobalAvg
                         ? int64_t{last.channels}
                         : int64_t{last.channels} * last.height * last.width;
  if (spec.hidden_units > 0) {
    hidden_ = register_module("hidden", torch::nn::Linear(features, spec.hidden_units));
    features = spec.hidden_units;
  }
  if (spec.dropout > 0) dropout_ = register_module("dropout", torch::nn::Dropout(spec.dropout));
  output_ = register_module("output", torch::nn::Linear(features, spec.num_classes));
}

torch::Tensor CnnImpl::forward(torch::Tensor x) {
  for (const auto& block : *blocks_) x = block->as<ConvBlock>()->forward(x);
  if (spec_.head == Head::kGlobalAvg) {
    x = x.mean({2, 3});
  } else {
    // Flatten in (height, width, channel) order: free for channels-last feature maps
    // (the fast layout for oneDNN on CPU), one copy otherwise.
    x = x.permute({0, 2, 3, 1}).flatten(1);
  }
  if (hidden_) x = activate(spec_.hidden_activation, linear_forward(hidden_, x));
  if (dropout_) x = dropout_->forward(x);
  return linear_forward(output_, x);
}

namespace {

// Every parameter's and buffer's name and shape, in the module's order.
std::vector<std::pair<std::string, std::vector<int64_t>>> tensor_shapes(torch::nn::Module& m) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& t : m.named_parameters()) shapes.emplace_back(t.key(), t.value().sizes().vec());
  for (const auto& t : m.named_buffers()) shapes.emplace_back(t.key(), t.value().sizes().vec());
  return shapes;
}

}  // namespace

void load_weights(Cnn& model, const std::string& path, const torch::Device& device) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ParamError(path + (std::filesystem::exists(path, ec) ? ": not a file of weights"
                                                               : ": no such weights file"));
  // LibTorch's load replaces each tensor whatever its shape: the shapes are compared here.
  const auto wanted = tensor_shapes(*model);
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, device);
    model->load(archive);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    throw ParamError(path + ": not the weights of this architecture (" + what + ")");
  }
  const auto loaded = tensor_shapes(*model);
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    const auto& [name, shape] = wanted[i];
    if (loaded[i].second != shape)
      throw ParamError(path + ": not the weights of this architecture (" + name + " is " +
                       c10::str(c10::IntArrayRef(loaded[i].second)) + ", this architecture needs " +
                       c10::str(c10::IntArrayRef(shape)) + ")");
  }
  model->to(device);
}

torch::Tensor to_nhwc(const torch::Tensor& t) {
  if (t.dim() != 4 || t.suggest_memory_format() == torch::MemoryFormat::ChannelsLast) return t;
  return torch::empty(t.sizes(), t.options().memory_format(torch::MemoryFormat::ChannelsLast))
      .copy_(t);
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(to_nhwc(p));
  }
}

int64_t count_parameters(torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) {
    if (p.requires_grad()) n += p.numel();
  }
  return n;
}

int64_t count_forward_macs(Cnn& model) {
  torch::InferenceMode guard;
  const bool was_training = model->is_training();
  model->eval();
  const ModelSpec& s = model->spec();
  const auto device = model->parameters().front().device();
  int64_t macs = 0;
  g_mac_counter = &macs;
  try {
    model->forward(torch::zeros({1, s.in_channels, s.in_height, s.in_width}, device));
  } catch (...) {
    g_mac_counter = nullptr;
    throw;
  }
  g_mac_counter = nullptr;
  model->train(was_training);
  return macs;
}

}  // namespace nnilib
