// ONNX export: a model spec and its trained weights as a standard ONNX model, the found
// model as a file any ONNX runtime runs (docs/deploy.md). Free of LibTorch: the weights
// come as plain float arrays (onnx_weights.h takes them from a LibTorch model). The graph
// is built and checked with Debian's ONNX library (its checker and strict shape
// inference) before a byte is written.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nnilib/model/model_spec.h"

namespace nnilib {

/// The opset the graph is written for: the newest Debian's ONNX 1.12 knows. Every
/// operator used (Conv, BatchNormalization, Relu, LeakyRelu, Sigmoid, Erf, MaxPool,
/// AveragePool, GlobalAveragePool, Transpose, Flatten, Gemm, Add, Sub, Mul, Div) is
/// standard.
inline constexpr int kOnnxOpset = 17;

/// A float32 tensor: its shape and its values in row-major order.
struct WeightTensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

/// A model's floating-point weights and batch-norm statistics by their names in model.pt
/// ("blocks.0.first.conv.weight", "blocks.1.second.norm.running_var", "output.bias").
using ModelWeights = std::map<std::string, WeightTensor>;

/// What the graph takes and what is recorded with it.
struct OnnxExportOptions {
  /// Per-channel normalization, done inside the graph: its input is pixels scaled to
  /// [0, 1] (bytes / 255). One value per image channel each.
  std::vector<float> mean, std;
  /// Optional: the name of each class, recorded as metadata ("class_names", one per line).
  std::vector<std::string> class_names;
  /// More metadata properties (e.g. "dataset", "parameters", "test_accuracy").
  std::map<std::string, std::string> metadata;
  std::string producer_version;  ///< the exporting program's version
};

/// The input and output names of the graph.
inline constexpr const char* kOnnxInputName = "images";   ///< float32 [batch, C, H, W]
inline constexpr const char* kOnnxOutputName = "logits";  ///< float32 [batch, classes]

/// The serialized ONNX ModelProto of `spec` with `weights`, in evaluation mode (batch
/// norm with its running statistics, no dropout), the batch dimension dynamic. Every
/// weight the spec needs must be present with its exact shape, and every weight given
/// must be used: ParamError names the first that is missing, misshapen or left over
/// (weights of another architecture). Options out of range (a mean or std per channel,
/// std > 0): ParamError.
std::string onnx_model_bytes(const ModelSpec& spec, const ModelWeights& weights,
                             const OnnxExportOptions& options);

/// Writes onnx_model_bytes() to `path` atomically (IoError naming it on failure).
void write_onnx_model(const std::string& path, const ModelSpec& spec, const ModelWeights& weights,
                      const OnnxExportOptions& options);

}  // namespace nnilib
