#include "nnilib/deploy/onnx_model.h"

#include <torch/torch.h>

#include "nnilib/common/file_io.h"
#include "nnilib/data/data.h"
#include "nnilib/data/dataset.h"
#include "nnilib/deploy/onnx_export.h"
#include "nnilib/model/model.h"

namespace nnilib {
namespace {

// The floating-point parameters and buffers of `model` by name, as float32 on the CPU
// (batch norm's integer num_batches_tracked is not part of the graph).
ModelWeights model_weights(torch::nn::Module& model) {
  ModelWeights weights;
  const auto add = [&](const std::string& name, const torch::Tensor& t) {
    if (!t.is_floating_point()) return;
    const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    WeightTensor w;
    w.shape.assign(c.sizes().begin(), c.sizes().end());
    w.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    weights.emplace(name, std::move(w));
  };
  for (const auto& p : model.named_parameters()) add(p.key(), p.value());
  for (const auto& b : model.named_buffers()) add(b.key(), b.value());
  return weights;
}

// The statistics training normalized with: the data set's fixed ones, else those of its
// training images (loading them as training did).
DatasetInfo normalization_of(const DataOptions& data) {
  DatasetInfo info = dataset_for_model(data);
  if (info.mean.empty() || info.std.empty()) info = load_dataset(data).info;
  return info;
}

}  // namespace

OnnxExportResult export_onnx(const TrialSpec& spec, const DataOptions& data,
                             const std::string& weights_path, const std::string& onnx_path,
                             const std::map<std::string, std::string>& metadata) {
  Cnn model(spec.model);
  load_weights(model, weights_path, torch::kCPU);
  model->eval();
  const DatasetInfo info = normalization_of(data);
  OnnxExportOptions options;
  options.mean = info.mean;
  options.std = info.std;
  options.class_names = info.class_names;
  options.producer_version = NNILIB_VERSION;
  options.metadata = metadata;
  options.metadata.emplace("dataset", info.name);
  options.metadata.emplace("parameters", spec.parameters.dump());
  const std::string bytes = onnx_model_bytes(spec.model, model_weights(*model), options);
  write_file_atomically(onnx_path, bytes, "the ONNX model");
  return {onnx_path, static_cast<int64_t>(bytes.size()), kOnnxOpset, describe(spec.model)};
}

}  // namespace nnilib
