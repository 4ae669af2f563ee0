#include "nnilib/data/dataset.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "nnilib/common/error.h"
#include "nnilib/data/data_format.h"
#include "nnilib/data/dataset_options.h"

namespace nnilib {

namespace {

namespace fs = std::filesystem;

DatasetInfo idx_set(std::string name, std::string prefix, int classes) {
  DatasetInfo info;
  info.name = std::move(name);
  info.idx_prefix = std::move(prefix);
  info.classes = classes;
  return info;
}

// The data sets --dataset names, one row each, in the order dataset_names() lists them.
const std::vector<DatasetInfo>& known_datasets() {
  static const std::vector<DatasetInfo> sets = [] {
    DatasetInfo fashion = idx_set("fashion-mnist", "", 10);
    fashion.default_dir = kDefaultDataDir;
    // Over its 60,000 training images; fixed, so Fashion-MNIST results never depend on
    // the split.
    fashion.mean = {0.2860f};
    fashion.std = {0.3530f};
    fashion.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                           "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    DatasetInfo mnist = idx_set("mnist", "", 10);
    mnist.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    DatasetInfo cifar10;
    cifar10.name = "cifar10";
    cifar10.format = "cifar10";
    cifar10.channels = 3;
    cifar10.height = cifar10.width = 32;
    cifar10.class_names = {"airplane", "automobile", "bird",  "cat",  "deer",
                           "dog",      "frog",       "horse", "ship", "truck"};
    DatasetInfo any_idx = idx_set("idx", "", 0);
    any_idx.shape_from_files = true;
    // EMNIST's splits and their label ranges (letters: 1-26, so 27 with 0 unused).
    return std::vector<DatasetInfo>{
        fashion,
        mnist,
        idx_set("kmnist", "", 10),
        idx_set("emnist-balanced", "emnist-balanced-", 47),
        idx_set("emnist-byclass", "emnist-byclass-", 62),
        idx_set("emnist-bymerge", "emnist-bymerge-", 47),
        idx_set("emnist-digits", "emnist-digits-", 10),
        idx_set("emnist-letters", "emnist-letters-", 27),
        idx_set("emnist-mnist", "emnist-mnist-", 10),
        cifar10,
        any_idx,
    };
  }();
  return sets;
}

}  // namespace

DatasetInfo dataset_info(const std::string& name) {
  for (const DatasetInfo& info : known_datasets())
    if (info.name == name) return info;
  throw ParamError("unknown data set \"" + name + "\" (accepted: " + dataset_names() + ")");
}

std::string dataset_names() {
  std::string names;
  for (const DatasetInfo& info : known_datasets()) names += (names.empty() ? "" : ", ") + info.name;
  return names;
}

std::string resolve_data_dir(const DatasetInfo& info, const std::string& flag) {
  if (info.name == "fashion-mnist") return resolve_data_dir(flag);
  if (!flag.empty()) return flag;
  if (!info.default_dir.empty()) return info.default_dir;
  throw ParamError("--dataset " + info.name +
                   " needs --data-dir: the directory that holds its files");
}

DatasetFiles find_dataset_files(const DatasetInfo& info, const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw DataError(dir + ": data directory not found" + where_to_get(info));
  }
  return data_format(info.format).find_files(info, dir);
}

DatasetInfo resolve_shape(DatasetInfo info, const DatasetFiles& files) {
  if (!info.shape_from_files) return info;
  const DataFormat& format = data_format(info.format);
  if (!format.shape)
    throw ParamError("data set " + info.name + ": its " + format.name +
                     " files do not say their shape");
  return format.shape(std::move(info), files);
}

DatasetInfo dataset_for_model(const DataOptions& options) {
  DatasetInfo info = dataset_info(options.dataset);
  if (!info.shape_from_files) return info;
  return resolve_shape(info, find_dataset_files(info, resolve_data_dir(info, options.dir)));
}

RawDataset read_dataset(const DatasetInfo& info, const DatasetFiles& files,
                        const std::function<bool()>& cancelled) {
  return data_format(info.format).read(info, files, cancelled);
}

}  // namespace nnilib
