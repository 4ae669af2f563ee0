// Fashion-MNIST in memory as tensors, with an honest train / validation / test split.
// (Includes torch: only for translation units that work with tensors.)
#pragma once

#include <torch/torch.h>

#include <string>

#include "nnilib/data/dataset_options.h"

namespace nnilib {

/// Images [N, 1, 28, 28] float (normalized) and labels [N] int64, on one device.
struct Split {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// The data set as a trial sees it. `val` is a fixed, seeded part of the 60,000
/// training images: the metric used for search. `test` is the 10,000 test images,
/// only evaluated for the final report.
struct FashionMnist {
  Split train;
  Split val;
  Split test;
  std::string dir;
};

/// Mean and standard deviation of Fashion-MNIST training pixels (scaled to [0, 1]).
inline constexpr float kPixelMean = 0.2860f;
inline constexpr float kPixelStd = 0.3530f;

/// Loads and splits the data set (gzipped or raw IDX files in options.dir, or in
/// resolve_data_dir("")). Throws DataError naming the file on any problem.
FashionMnist load_fashion_mnist(const DataOptions& options);

/// Converts IDX bytes [N, 28, 28] to normalized float images [N, 1, 28, 28].
torch::Tensor normalize_images(const torch::Tensor& bytes);

/// The same data on another device (CUDA), done once before training.
FashionMnist to_device(const FashionMnist& data, const torch::Device& device);

}  // namespace nnilib
