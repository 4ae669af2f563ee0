// A data set in memory as tensors, with an honest train / validation / test split.
// (Includes torch: only for translation units that work with tensors.)
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "nnilib/data/dataset.h"
#include "nnilib/data/dataset_options.h"

namespace nnilib {

/// Images [N, C, H, W] float (normalized) and labels [N] int64, on one device.
struct Split {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// The data set as a trial sees it. `val` is a fixed, seeded part of the training
/// images: the metric used for search. `test` is the test images, only evaluated for
/// the final report. `info` says what it is (shape, classes) and holds the per-channel
/// mean and standard deviation it was normalized with.
struct Dataset {
  Split train;
  Split val;
  Split test;
  std::string dir;
  DatasetInfo info;
};

/// Loads and splits options.dataset (dataset.h) from options.dir (or
/// resolve_data_dir(info, "")). Images are normalized per channel with the data set's
/// fixed statistics, or those of the training images after the split. Throws
/// DataError naming the file on any problem, ParamError for sizes out of range.
Dataset load_dataset(const DataOptions& options);

/// Converts image bytes [N, H, W] (one channel) or [N, C, H, W] to normalized float
/// images [N, C, H, W]: (bytes / 255 - mean[c]) / std[c].
torch::Tensor normalize_images(const torch::Tensor& bytes, const std::vector<float>& mean,
                               const std::vector<float>& std);

/// The same data on another device (CUDA), done once before training.
Dataset to_device(const Dataset& data, const torch::Device& device);

}  // namespace nnilib
