// ModelSpec: a plain description of a CNN architecture (no torch), and what it costs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnilib {

/// Activation after a convolution or hidden layer.
enum class Activation { kRelu, kGelu, kSilu, kLeakyRelu };
/// Pooling at the end of a convolution block.
enum class Pool { kNone, kMax, kAvg };
/// How the classifier head reads the last feature map.
enum class Head {
  kFlatten,   ///< every value of the feature map (in height, width, channel order)
  kGlobalAvg  ///< the mean of each channel (global average pooling)
};

/// One convolution block: the convolutions of its kind (block_kind.h: plain, residual,
/// separable, separable_residual, inverted_residual, ...), each followed by batch norm
/// when asked for, the activation, then pooling.
struct ConvBlockSpec {
  int out_channels = 32;
  int kernel_size = 3;
  int padding = 0;  ///< 0 = "valid" as in the seed's Keras model; kernel_size / 2 = "same"
  Activation activation = Activation::kRelu;
  Pool pool = Pool::kNone;
  int pool_size = 2;
  bool batch_norm = false;
  std::string kind = "plain";  ///< a name of block_kinds()
};

/// What a model takes and gives: image channels and size, and the classes (the data
/// set's; Fashion-MNIST's by default).
struct ModelInput {
  int channels = 1;
  int height = 28;
  int width = 28;
  int classes = 10;
};

/// A CNN: convolution blocks, then the head (flatten or global average pooling)
/// -> [Linear(hidden) -> activation] -> dropout -> Linear(classes).
struct ModelSpec {
  int in_channels = 1;
  int in_height = 28;
  int in_width = 28;
  int num_classes = 10;
  std::vector<ConvBlockSpec> blocks;
  Head head = Head::kFlatten;
  int hidden_units = 100;  ///< 0 = no hidden layer
  Activation hidden_activation = Activation::kRelu;
  double dropout = 0;  ///< drop probability before the last Linear
};

/// Shape of the feature map after each block, for printing and cost estimates.
struct FeatureShape {
  int channels;
  int height;
  int width;
};

/// What an architecture costs, computed from the spec alone.
struct CostEstimate {
  int64_t params = 0;  ///< trainable parameters
  /// Multiply-accumulates of one image's forward pass in convolutions and Linear
  /// layers (batch norm, activations and pooling are not counted).
  int64_t macs = 0;
  int64_t activation_floats = 0;     ///< floats of activations stored for backward, per image
  int64_t peak_layer_floats = 0;     ///< floats of the largest single layer output, per image
  std::vector<FeatureShape> shapes;  ///< after each convolution block
};

/// Checks the spec and computes its cost. Throws ParamError naming the block when
/// a value is out of range or a feature map would shrink below 1x1.
CostEstimate estimate_cost(const ModelSpec& spec);

/// Estimated peak memory of training with `batch_size` images per step: weights,
/// gradients and two optimizer moments per parameter, plus the activations kept
/// for backward and the evaluation batch, in bytes (float32).
int64_t estimate_training_memory(const CostEstimate& cost, int batch_size, int eval_batch_size);

/// A one-line human description, e.g. "conv64k3 relu > conv64k3 relu maxpool2 > fc100 relu > fc10".
std::string describe(const ModelSpec& spec);

const char* to_string(Activation a);
const char* to_string(Pool p);
const char* to_string(Head h);

}  // namespace nnilib
