#include "nnilib/data/data.h"

#include <filesystem>

#include "nnilib/common/error.h"
#include "nnilib/data/idx.h"

namespace nnilib {
namespace {

constexpr int64_t kRows = 28;
constexpr int64_t kCols = 28;
constexpr int kClasses = 10;

// Copies IDX arrays into tensors: one memcpy each, no per-sample work.
Split to_split(const LabeledImages& set) {
  const int64_t n = set.images.count();
  torch::Tensor bytes = torch::empty({n, kRows, kCols}, torch::kUInt8);
  std::memcpy(bytes.data_ptr<uint8_t>(), set.images.data.data(), set.images.data.size());
  torch::Tensor labels = torch::empty({n}, torch::kUInt8);
  std::memcpy(labels.data_ptr<uint8_t>(), set.labels.data.data(), set.labels.data.size());
  return Split{normalize_images(bytes), labels.to(torch::kLong)};
}

Split take(const Split& s, const torch::Tensor& index) {
  return Split{s.images.index_select(0, index), s.labels.index_select(0, index)};
}

torch::Tensor to_index(const std::vector<int64_t>& v, size_t begin, size_t end) {
  return torch::from_blob(const_cast<int64_t*>(v.data() + begin),
                          {static_cast<int64_t>(end - begin)}, torch::kLong)
      .clone();
}

}  // namespace

torch::Tensor normalize_images(const torch::Tensor& bytes) {
  return bytes.to(torch::kFloat).div_(255.0f).sub_(kPixelMean).div_(kPixelStd).unsqueeze(1).contiguous();
}

FashionMnist load_fashion_mnist(const DataOptions& options) {
  const std::string dir = resolve_data_dir(options.dir);
  auto path = [&dir](const char* name) { return dir + "/" + name; };
  auto pick = [&](const char* stem) {
    // Debian ships gzipped files; a raw copy (same name without .gz) works too.
    std::string gz = path(stem) + ".gz";
    if (FILE* f = std::fopen(gz.c_str(), "rb")) {
      std::fclose(f);
      return gz;
    }
    std::string raw = path(stem);
    if (FILE* f = std::fopen(raw.c_str(), "rb")) {
      std::fclose(f);
      return raw;
    }
    throw DataError(gz + ": not found (nor " + raw + "); set --data-dir or FMNIST_DATA_DIR, or " +
                    "install Debian's dataset-fashion-mnist");
  };
  if (!std::filesystem::is_directory(dir)) {
    throw DataError(dir + ": data directory not found; set --data-dir or FMNIST_DATA_DIR, or " +
                    "install Debian's dataset-fashion-mnist");
  }
  const std::string train_images = pick("train-images-idx3-ubyte");
  const std::string train_labels = pick("train-labels-idx1-ubyte");
  const std::string test_images = pick("t10k-images-idx3-ubyte");
  const std::string test_labels = pick("t10k-labels-idx1-ubyte");
  const LabeledImages train_set = read_idx_pair(train_images, train_labels, kRows, kCols, kClasses);
  const LabeledImages test_set = read_idx_pair(test_images, test_labels, kRows, kCols, kClasses);
  const int64_t n = train_set.images.count();
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
  const int64_t test_n = test_set.images.count();
  if (options.test_size < 0 || options.test_size > test_n) {
    throw ParamError("test size " + std::to_string(options.test_size) +
                     " must be between 0 (all) and " + std::to_string(test_n));
  }

  const Split full = to_split(train_set);
  const std::vector<int64_t> perm = seeded_permutation(n, options.split_seed);
  const size_t val_end = static_cast<size_t>(options.val_size);
  const size_t train_end = val_end + static_cast<size_t>(options.train_size > 0 ? options.train_size : rest);
  FashionMnist data;
  data.dir = dir;
  data.val = take(full, to_index(perm, 0, val_end));
  data.train = take(full, to_index(perm, val_end, train_end));
  data.test = to_split(test_set);
  if (options.test_size > 0) {
    data.test = Split{data.test.images.narrow(0, 0, options.test_size).contiguous(),
                      data.test.labels.narrow(0, 0, options.test_size).contiguous()};
  }
  return data;
}

FashionMnist to_device(const FashionMnist& data, const torch::Device& device) {
  auto move = [&device](const Split& s) {
    return Split{s.images.to(device), s.labels.to(device)};
  };
  return FashionMnist{move(data.train), move(data.val), move(data.test), data.dir};
}

}  // namespace nnilib
