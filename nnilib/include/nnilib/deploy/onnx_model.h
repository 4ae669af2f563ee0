// A saved model.pt as an ONNX file (onnx_export.h), with the normalization and class
// names of the data set it was trained on: fmnist-trial's --export-onnx and the final
// training's final/model.onnx. LibTorch inside (it reads model.pt); this header is
// torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nnilib/data/dataset_options.h"
#include "nnilib/model/params.h"

namespace nnilib {

/// What export_onnx() wrote.
struct OnnxExportResult {
  std::string path;
  int64_t bytes = 0;
  int opset = 0;             ///< the ONNX opset it is written for
  std::string architecture;  ///< describe() of the model
};

/// Reads `weights_path` (a model.pt of `spec`) and writes it to `onnx_path` as ONNX: the
/// input normalization of `data`'s data set (its fixed statistics, or those of its
/// training images after the split, as training computed them), its class names, the
/// parameters and `metadata` recorded with it. ParamError names a weights file that is
/// missing or of another architecture; IoError an output that cannot be written (an
/// existing file is then left as it was).
OnnxExportResult export_onnx(const TrialSpec& spec, const DataOptions& data,
                             const std::string& weights_path, const std::string& onnx_path,
                             const std::map<std::string, std::string>& metadata = {});

}  // namespace nnilib
