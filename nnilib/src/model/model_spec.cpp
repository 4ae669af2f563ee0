#include "nnilib/model/model_spec.h"

#include <algorithm>
#include <sstream>

#include "model/enum_tables.h"
#include "nnilib/common/error.h"
#include "nnilib/model/block_kind.h"

namespace nnilib {
namespace {

// Accumulates the cost of one block's layers as the feature map flows through it.
struct CostWalker {
  CostEstimate& cost;
  int64_t height = 0;
  int64_t width = 0;

  void keep(int64_t floats) {
    cost.activation_floats += floats;
    cost.peak_layer_floats = std::max(cost.peak_layer_floats, floats);
  }
  // A k x k convolution (or depthwise + pointwise pair) from `in` to `out` channels at
  // the current (already padded-and-convolved) size, in `groups` groups; a bias when no
  // batch norm follows.
  void conv(int64_t in, int64_t out, int64_t k, bool separable, bool batch_norm,
            int64_t groups = 1) {
    const int64_t pixels = height * width;
    if (separable) {
      cost.params += in * k * k;  // depthwise, no bias
      cost.macs += pixels * in * k * k;
      keep(pixels * in);
      cost.params += in * out + (batch_norm ? 0 : out);
      cost.macs += pixels * in * out;
    } else {
      cost.params += out * (in / groups) * k * k + (batch_norm ? 0 : out);
      cost.macs += pixels * out * (in / groups) * k * k;
    }
    keep(pixels * out);
    if (batch_norm) {
      cost.params += 2 * out;
      keep(pixels * out);
    }
  }
  void activation(int64_t channels) { keep(height * width * channels); }
};

}  // namespace

const char* to_string(Activation a) { return name_of(kActivationNames, a); }

const char* to_string(Pool p) { return name_of(kPoolNames, p); }

const char* to_string(Head h) { return name_of(kHeadNames, h); }

CostEstimate estimate_cost(const ModelSpec& spec) {
  if (spec.in_channels < 1 || spec.in_height < 1 || spec.in_width < 1) {
    throw ParamError("invalid input shape for the model");
  }
  if (spec.num_classes < 2) throw ParamError("invalid number of classes for the model");
  if (spec.hidden_units < 0) throw ParamError("invalid hidden_units for Linear: must be >= 0");
  if (!(spec.dropout >= 0 && spec.dropout < 1)) {
    throw ParamError("invalid dropout for the head: must be in [0, 1)");
  }
  CostEstimate cost;
  CostWalker walk{cost};
  FeatureShape s{spec.in_channels, spec.in_height, spec.in_width};
  walk.keep(int64_t{s.channels} * s.height * s.width);  // the input itself
  for (size_t i = 0; i < spec.blocks.size(); ++i) {
    const ConvBlockSpec& b = spec.blocks[i];
    const std::string where = "conv block " + std::to_string(i + 1);
    if (b.out_channels < 1) throw ParamError("invalid out_channels for " + where);
    if (b.kernel_size < 1) throw ParamError("invalid kernel size for " + where);
    if (b.padding < 0 || b.padding >= b.kernel_size)
      throw ParamError("invalid padding for " + where);
    const int oh = s.height + 2 * b.padding - b.kernel_size + 1;
    const int ow = s.width + 2 * b.padding - b.kernel_size + 1;
    if (oh < 1 || ow < 1) {
      throw ParamError(where + ": kernel " + std::to_string(b.kernel_size) + " does not fit its " +
                       std::to_string(s.height) + "x" + std::to_string(s.width) +
                       " input (the feature map would shrink below 1x1)");
    }
    BlockLayout layout;
    try {
      layout = layout_of(b, s.channels);
    } catch (const ParamError& e) {
      throw ParamError(std::string(e.what()) + " for " + where);
    }
    if (layout.skip && (oh != s.height || ow != s.width)) {
      throw ParamError("invalid padding for " + where + ": a residual block needs an odd kernel " +
                       "with \"same\" padding (kernel " + std::to_string(b.kernel_size) +
                       ", padding " + std::to_string(b.padding) + ")");
    }
    walk.height = oh;
    walk.width = ow;
    // The chain with the activation between its units, the shortcut, the sum, the last
    // activation.
    for (std::size_t u = 0; u < layout.chain.size(); ++u) {
      const BlockUnit& unit = layout.chain[u];
      walk.conv(unit.in_channels, unit.out_channels, unit.kernel_size, unit.separable, b.batch_norm,
                unit.groups);
      if (u + 1 < layout.chain.size()) walk.activation(unit.out_channels);
    }
    if (layout.shortcut) walk.conv(s.channels, b.out_channels, 1, false, b.batch_norm);
    if (layout.skip) walk.activation(b.out_channels);  // the sum
    if (layout.activation_after) walk.activation(b.out_channels);
    s = FeatureShape{b.out_channels, oh, ow};
    if (b.pool != Pool::kNone) {
      if (b.pool_size < 1) throw ParamError("invalid pool size for " + where);
      if (s.height / b.pool_size < 1 || s.width / b.pool_size < 1) {
        throw ParamError(where + ": " + to_string(b.pool) + " pooling " +
                         std::to_string(b.pool_size) + " does not fit its " +
                         std::to_string(s.height) + "x" + std::to_string(s.width) +
                         " input (the feature map would shrink below 1x1)");
      }
      s.height /= b.pool_size;
      s.width /= b.pool_size;
      walk.keep(int64_t{s.channels} * s.height * s.width);
    }
    cost.shapes.push_back(s);
  }
  int64_t features = int64_t{s.channels} * s.height * s.width;
  if (spec.head == Head::kGlobalAvg) {
    features = s.channels;
    walk.keep(features);
  }
  if (spec.hidden_units > 0) {
    cost.params += features * spec.hidden_units + spec.hidden_units;
    cost.macs += features * spec.hidden_units;
    walk.keep(2 * int64_t{spec.hidden_units});
    features = spec.hidden_units;
  }
  if (spec.dropout > 0) walk.keep(features);
  cost.params += features * spec.num_classes + spec.num_classes;
  cost.macs += features * spec.num_classes;
  walk.keep(spec.num_classes);
  return cost;
}

int64_t estimate_training_memory(const CostEstimate& cost, int batch_size, int eval_batch_size) {
  // Weights, gradients and two optimizer moments; the activations kept for backward
  // and their gradients; evaluation holds about two layers' outputs at a time.
  const int64_t floats = 4 * cost.params + 2 * int64_t{batch_size} * cost.activation_floats +
                         2 * int64_t{eval_batch_size} * cost.peak_layer_floats;
  return 4 * floats;
}

std::string describe(const ModelSpec& spec) {
  std::ostringstream out;
  int in_channels = spec.in_channels;
  for (const ConvBlockSpec& b : spec.blocks) {
    const BlockLayout layout = layout_of(b, in_channels);
    in_channels = b.out_channels;
    out << layout.label << b.out_channels << "k" << b.kernel_size;
    if (b.padding > 0) out << "p" << b.padding;
    out << layout.suffix;
    if (b.batch_norm) out << " bn";
    out << " " << to_string(b.activation);
    if (b.pool != Pool::kNone) out << " " << to_string(b.pool) << "pool" << b.pool_size;
    out << " > ";
  }
  if (spec.head == Head::kGlobalAvg) out << "gap > ";
  if (spec.hidden_units > 0) {
    out << "fc" << spec.hidden_units << " " << to_string(spec.hidden_activation) << " > ";
  }
  if (spec.dropout > 0) out << "dropout" << spec.dropout << " > ";
  out << "fc" << spec.num_classes;
  return out.str();
}

}  // namespace nnilib
