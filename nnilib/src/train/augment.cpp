#include "train/augment.h"

#include <cmath>

namespace nnilib {
namespace {

// Random crop: each image is padded by `p` and an H x W window is taken at a
// random offset, with one gather over the whole batch.
torch::Tensor random_crop(const torch::Tensor& x, int p, const std::vector<float>& background) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  torch::Tensor padded;
  if (background.size() == 1) {
    padded = torch::constant_pad_nd(x, {p, p, p, p}, background[0]).contiguous();
  } else {  // one value per channel: pad the difference with 0
    const torch::Tensor bg = torch::tensor(background, x.options()).view({1, c, 1, 1});
    padded = torch::constant_pad_nd(x - bg, {p, p, p, p}, 0).add_(bg).contiguous();
  }
  const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  const torch::Tensor dy = torch::randint(0, 2 * p + 1, {b, 1, 1}, long_options);
  const torch::Tensor dx = torch::randint(0, 2 * p + 1, {b, 1, 1}, long_options);
  const torch::Tensor rows = dy + torch::arange(h, long_options).view({1, h, 1});
  const torch::Tensor cols = dx + torch::arange(w, long_options).view({1, 1, w});
  const torch::Tensor index = (rows * (w + 2 * p) + cols).view({b, 1, h * w}).expand({b, c, h * w});
  return padded.view({b, c, -1}).gather(2, index).view({b, c, h, w});
}

torch::Tensor random_flip(const torch::Tensor& x) {
  const torch::Tensor flip = torch::rand({x.size(0), 1, 1, 1}, x.options()).lt(0.5);
  return torch::where(flip, x.flip({3}), x);
}

// Random erasing with probability `p` per image: a rectangle of 2-33% of the image
// with an aspect ratio of 0.3-3.3 (log-uniform), placed uniformly, set to 0.
torch::Tensor random_erasing(const torch::Tensor& x, double p) {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  const auto options = x.options();
  const torch::Tensor apply = torch::rand({b}, options).lt(p);
  const torch::Tensor area = torch::empty({b}, options).uniform_(0.02, 0.33) * (h * w);
  const torch::Tensor ratio =
      torch::exp(torch::empty({b}, options).uniform_(std::log(0.3), std::log(3.3)));
  const torch::Tensor eh = torch::sqrt(area * ratio).round().clamp(1, h);
  const torch::Tensor ew = torch::sqrt(area / ratio).round().clamp(1, w);
  const torch::Tensor y0 = (torch::rand({b}, options) * (h - eh + 1)).floor();
  const torch::Tensor x0 = (torch::rand({b}, options) * (w - ew + 1)).floor();
  const torch::Tensor rows = torch::arange(h, options).view({1, h, 1});
  const torch::Tensor cols = torch::arange(w, options).view({1, 1, w});
  const auto per_image = [b](const torch::Tensor& t) { return t.view({b, 1, 1}); };
  const torch::Tensor mask = rows.ge(per_image(y0)) & rows.lt(per_image(y0 + eh)) &
                             cols.ge(per_image(x0)) & cols.lt(per_image(x0 + ew)) &
                             per_image(apply);
  return x.masked_fill(mask.unsqueeze(1), 0.0);
}

}  // namespace

torch::Tensor augment(const torch::Tensor& images, const Augmentation& aug,
                      const std::vector<float>& background) {
  torch::NoGradGuard no_grad;
  torch::Tensor x = images;
  if (aug.crop_padding > 0) x = random_crop(x, aug.crop_padding, background);
  if (aug.flip) x = random_flip(x);
  if (aug.erasing > 0) x = random_erasing(x, aug.erasing);
  return x;
}

}  // namespace nnilib
