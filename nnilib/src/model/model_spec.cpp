#include "nnilib/model_spec.h"

#include <sstream>

#include "nnilib/error.h"

namespace nnilib {

const char* to_string(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
  }
  return "?";
}

const char* to_string(Pool p) {
  switch (p) {
    case Pool::kNone:
      return "none";
    case Pool::kMax:
      return "max";
    case Pool::kAvg:
      return "avg";
  }
  return "?";
}

CostEstimate estimate_cost(const ModelSpec& spec) {
  if (spec.in_channels < 1 || spec.in_height < 1 || spec.in_width < 1) {
    throw ParamError("invalid input shape for the model");
  }
  if (spec.num_classes < 2) throw ParamError("invalid number of classes for the model");
  if (spec.hidden_units < 0) throw ParamError("invalid hidden_units for Linear: must be >= 0");
  CostEstimate cost;
  FeatureShape s{spec.in_channels, spec.in_height, spec.in_width};
  cost.activation_floats += int64_t{s.channels} * s.height * s.width;  // the input itself
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
    cost.params +=
        int64_t{b.out_channels} * s.channels * b.kernel_size * b.kernel_size + b.out_channels;
    cost.macs += int64_t{oh} * ow * b.out_channels * s.channels * b.kernel_size * b.kernel_size;
    // Convolution output and activation output are both kept for backward.
    cost.activation_floats += 2 * int64_t{oh} * ow * b.out_channels;
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
      cost.activation_floats += int64_t{s.channels} * s.height * s.width;
    }
    cost.shapes.push_back(s);
  }
  int64_t features = int64_t{s.channels} * s.height * s.width;
  if (spec.hidden_units > 0) {
    cost.params += features * spec.hidden_units + spec.hidden_units;
    cost.macs += features * spec.hidden_units;
    cost.activation_floats += 2 * int64_t{spec.hidden_units};
    features = spec.hidden_units;
  }
  cost.params += features * spec.num_classes + spec.num_classes;
  cost.macs += features * spec.num_classes;
  cost.activation_floats += spec.num_classes;
  return cost;
}

std::string describe(const ModelSpec& spec) {
  std::ostringstream out;
  for (const ConvBlockSpec& b : spec.blocks) {
    out << "conv" << b.out_channels << "k" << b.kernel_size;
    if (b.padding > 0) out << "p" << b.padding;
    out << " " << to_string(b.activation);
    if (b.pool != Pool::kNone) out << " " << to_string(b.pool) << "pool" << b.pool_size;
    out << " > ";
  }
  if (spec.hidden_units > 0) {
    out << "fc" << spec.hidden_units << " " << to_string(spec.hidden_activation) << " > ";
  }
  out << "fc" << spec.num_classes;
  return out.str();
}

}  // namespace nnilib
