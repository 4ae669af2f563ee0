#include "nnilib/data/data.h"

#include <cmath>
#include <cstring>

#include "nnilib/common/cancellation.h"
#include "nnilib/common/error.h"

namespace nnilib {
namespace {

// The bytes of a LabeledImages as tensors: one memcpy each, no per-sample work.
// Images stay bytes ([N, H, W] or [N, C, H, W]) until normalize_images().
std::pair<torch::Tensor, torch::Tensor> to_tensors(const LabeledImages& set) {
  std::vector<int64_t> dims(set.images.dims.begin(), set.images.dims.end());
  torch::Tensor bytes = torch::empty(dims, torch::kUInt8);
  std::memcpy(bytes.data_ptr<uint8_t>(), set.images.data.data(), set.images.data.size());
  torch::Tensor labels = torch::empty({set.labels.count()}, torch::kUInt8);
  std::memcpy(labels.data_ptr<uint8_t>(), set.labels.data.data(), set.labels.data.size());
  return {bytes, labels.to(torch::kLong)};
}

torch::Tensor to_index(const std::vector<int64_t>& v, size_t begin, size_t end) {
  return torch::from_blob(const_cast<int64_t*>(v.data() + begin),
                          {static_cast<int64_t>(end - begin)}, torch::kLong)
      .clone();
}

// Per-channel mean and standard deviation of image bytes scaled to [0, 1].
void channel_statistics(const torch::Tensor& bytes, int channels, std::vector<float>& mean,
                        std::vector<float>& std) {
  const torch::Tensor x = bytes.reshape({bytes.size(0), channels, -1})
                              .to(torch::kDouble)
                              .div_(255.0)
                              .transpose(0, 1)
                              .reshape({channels, -1});
  const torch::Tensor m = x.mean(1), s = x.std(1, /*unbiased=*/false);
  mean.clear();
  std.clear();
  for (int c = 0; c < channels; ++c) {
    mean.push_back(static_cast<float>(m[c].item<double>()));
    // A constant channel would divide by 0: leave it unscaled.
    const double sd = s[c].item<double>();
    std.push_back(sd > 1e-6 ? static_cast<float>(sd) : 1.0f);
  }
}

}  // namespace

torch::Tensor normalize_images(const torch::Tensor& bytes, const std::vector<float>& mean,
                               const std::vector<float>& std) {
  if (bytes.dim() == 3) {  // one channel: [N, H, W]
    return bytes.to(torch::kFloat)
        .div_(255.0f)
        .sub_(mean.at(0))
        .div_(std.at(0))
        .unsqueeze(1)
        .contiguous();
  }
  const int64_t c = bytes.size(1);
  const torch::Tensor m = torch::tensor(mean, torch::kFloat).view({1, c, 1, 1});
  const torch::Tensor s = torch::tensor(std, torch::kFloat).view({1, c, 1, 1});
  return bytes.to(torch::kFloat).div_(255.0f).sub_(m).div_(s).contiguous();
}

Dataset load_dataset(const DataOptions& options) {
  DatasetInfo info = dataset_info(options.dataset);
  const std::string dir = resolve_data_dir(info, options.dir);
  const DatasetFiles files = find_dataset_files(info, dir);
  info = resolve_shape(std::move(info), files);
  const RawDataset raw = read_dataset(info, files, options.cancelled);
  throw_if_cancelled(options.cancelled, "interrupted while preparing the data of " + dir);
  const int64_t n = raw.train.images.count();
  if (options.val_size < 0 || options.val_size >= n) {
    throw ParamError("validation size " + std::to_string(options.val_size) +
                     " must be between 0 (none: train on every training image) and " +
                     std::to_string(n - 1));
  }
  const int64_t rest = n - options.val_size;
  if (options.train_size < 0 || options.train_size > rest) {
    throw ParamError("training size " + std::to_string(options.train_size) +
                     " must be between 0 (all) and " + std::to_string(rest));
  }
  const int64_t test_n = raw.test.images.count();
  if (options.test_size < 0 || options.test_size > test_n) {
    throw ParamError("test size " + std::to_string(options.test_size) +
                     " must be between 0 (all) and " + std::to_string(test_n));
  }

  const auto [train_bytes, train_labels] = to_tensors(raw.train);
  const std::vector<int64_t> perm = seeded_permutation(n, options.split_seed);
  const size_t val_end = static_cast<size_t>(options.val_size);
  const size_t train_end =
      val_end + static_cast<size_t>(options.train_size > 0 ? options.train_size : rest);
  const torch::Tensor val_index = to_index(perm, 0, val_end);
  const torch::Tensor train_index = to_index(perm, val_end, train_end);
  const torch::Tensor train_part = train_bytes.index_select(0, train_index);
  // Normalization: the data set's own constants, else the training images' statistics
  // (never the validation or test images').
  if (info.mean.empty()) channel_statistics(train_part, info.channels, info.mean, info.std);

  Dataset data;
  data.dir = dir;
  data.train = Split{normalize_images(train_part, info.mean, info.std),
                     train_labels.index_select(0, train_index)};
  data.val = Split{normalize_images(train_bytes.index_select(0, val_index), info.mean, info.std),
                   train_labels.index_select(0, val_index)};
  auto [test_bytes, test_labels] = to_tensors(raw.test);
  if (options.test_size > 0) {
    test_bytes = test_bytes.narrow(0, 0, options.test_size);
    test_labels = test_labels.narrow(0, 0, options.test_size).contiguous();
  }
  data.test = Split{normalize_images(test_bytes, info.mean, info.std), test_labels};
  data.info = std::move(info);
  return data;
}

Dataset to_device(const Dataset& data, const torch::Device& device) {
  auto move = [&device](const Split& s) { return Split{s.images.to(device), s.labels.to(device)}; };
  return Dataset{move(data.train), move(data.val), move(data.test), data.dir, data.info};
}

}  // namespace nnilib
