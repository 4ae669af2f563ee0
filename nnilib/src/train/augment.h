// Data augmentation of a training batch, on the batch's device. (Includes torch.)
#pragma once

#include <torch/torch.h>

#include <vector>

#include "nnilib/model/params.h"

namespace nnilib {

/// Returns a randomly augmented copy of `images` [B, C, H, W] as `aug` asks: a
/// random crop after padding with `background` (the value of a black pixel, per
/// channel: one value for all channels when it has one),
/// a horizontal flip with probability 1/2, and random erasing of a rectangle
/// (2-33% of the area, aspect 0.3-3.3, set to 0, the data set's mean, as
/// torchvision's RandomErasing after normalization). Each image draws its own
/// values from LibTorch's default generator, so a seeded run is reproducible.
/// Returns `images` itself when `aug` asks for nothing.
torch::Tensor augment(const torch::Tensor& images, const Augmentation& aug,
                      const std::vector<float>& background);

}  // namespace nnilib
