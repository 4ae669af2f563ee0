// ModelSpec: a plain description of a CNN architecture (no torch), and what it costs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnilib {

/// Activation after a convolution or hidden layer.
enum class Activation { kRelu };
/// Pooling at the end of a convolution block.
enum class Pool { kNone, kMax, kAvg };

/// One convolution block: Conv2d(kernel, stride 1, padding) -> activation -> pooling.
struct ConvBlockSpec {
  int out_channels = 32;
  int kernel_size = 3;
  int padding = 0;  ///< 0 = "valid" as in the seed's Keras model
  Activation activation = Activation::kRelu;
  Pool pool = Pool::kNone;
  int pool_size = 2;
};

/// A CNN: convolution blocks, then flatten -> Linear(hidden) -> activation -> Linear(classes).
struct ModelSpec {
  int in_channels = 1;
  int in_height = 28;
  int in_width = 28;
  int num_classes = 10;
  std::vector<ConvBlockSpec> blocks;
  int hidden_units = 100;  ///< 0 = no hidden layer
  Activation hidden_activation = Activation::kRelu;
};

/// Shape of the feature map after each block, for printing and cost estimates.
struct FeatureShape {
  int channels;
  int height;
  int width;
};

/// What an architecture costs, computed from the spec alone.
struct CostEstimate {
  int64_t params = 0;                ///< trainable parameters
  int64_t macs = 0;                  ///< multiply-accumulates of one image's forward pass
  int64_t activation_floats = 0;     ///< floats of activations stored for backward, per image
  std::vector<FeatureShape> shapes;  ///< after each convolution block
};

/// Checks the spec and computes its cost. Throws ParamError naming the block when
/// a value is out of range or a feature map would shrink below 1x1.
CostEstimate estimate_cost(const ModelSpec& spec);

/// A one-line human description, e.g. "conv64k3 relu > conv64k3 relu maxpool2 > fc100 relu > fc10".
std::string describe(const ModelSpec& spec);

const char* to_string(Activation a);
const char* to_string(Pool p);

}  // namespace nnilib
