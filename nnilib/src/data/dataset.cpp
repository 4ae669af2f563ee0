#include "nnilib/data/dataset.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "data/cifar.h"
#include "nnilib/common/error.h"
#include "nnilib/data/dataset_options.h"

namespace nnilib {

namespace {

namespace fs = std::filesystem;

struct EmnistSplit {
  const char* split;
  int classes;
};
// EMNIST's splits and their label ranges (letters: 1-26, so 27 with 0 unused).
constexpr EmnistSplit kEmnist[] = {{"balanced", 47}, {"byclass", 62}, {"bymerge", 47},
                                   {"digits", 10},   {"letters", 27}, {"mnist", 10}};

DatasetInfo idx_set(std::string name, std::string prefix, int classes) {
  DatasetInfo info;
  info.name = std::move(name);
  info.idx_prefix = std::move(prefix);
  info.classes = classes;
  return info;
}

// `dir/stem.gz`, else `dir/stem`, else "".
std::string existing(const std::string& dir, const std::string& stem) {
  std::error_code ec;
  for (const std::string& p : {dir + "/" + stem + ".gz", dir + "/" + stem})
    if (fs::is_regular_file(p, ec)) return p;
  return "";
}

// How to get the files of `info` where they are missing.
std::string where_to_get(const DatasetInfo& info) {
  return info.name == "fashion-mnist"
             ? "; set --data-dir or FMNIST_DATA_DIR, or install Debian's dataset-fashion-mnist"
             : "; point --data-dir at the directory of the " + info.name + " files";
}

std::string need_idx(const std::string& dir, const std::vector<std::string>& stems,
                     const DatasetInfo& info) {
  for (const std::string& stem : stems)
    if (std::string p = existing(dir, stem); !p.empty()) return p;
  // Something that is there but not a file is not "missing": name it as what it is.
  std::error_code ec;
  for (const std::string& stem : stems)
    for (const std::string& p : {dir + "/" + stem + ".gz", dir + "/" + stem})
      if (fs::exists(p, ec))
        throw DataError(p + ": is " +
                        (fs::is_directory(p, ec) ? "a directory" : "not a regular file") +
                        ", not the data file");
  throw DataError(dir + "/" + stems.front() + ".gz: not found (nor " + stems.front() +
                  " without .gz)" + where_to_get(info));
}

}  // namespace

DatasetInfo dataset_info(const std::string& name) {
  if (name == "fashion-mnist") {
    DatasetInfo info = idx_set(name, "", 10);
    info.default_dir = kDefaultDataDir;
    // Over its 60,000 training images; fixed, so Fashion-MNIST results never depend on
    // the split.
    info.mean = {0.2860f};
    info.std = {0.3530f};
    return info;
  }
  if (name == "mnist" || name == "kmnist") return idx_set(name, "", 10);
  for (const EmnistSplit& e : kEmnist)
    if (name == std::string("emnist-") + e.split)
      return idx_set(name, std::string("emnist-") + e.split + "-", e.classes);
  if (name == "idx") {
    DatasetInfo info = idx_set(name, "", 0);
    info.shape_from_files = true;
    return info;
  }
  if (name == "cifar10") {
    DatasetInfo info;
    info.name = name;
    info.format = DataFormat::kCifar10;
    info.channels = 3;
    info.height = info.width = 32;
    info.classes = 10;
    return info;
  }
  throw ParamError("unknown data set \"" + name + "\" (accepted: " + dataset_names() + ")");
}

std::string dataset_names() {
  std::string names = "fashion-mnist, mnist, kmnist";
  for (const EmnistSplit& e : kEmnist) names += std::string(", emnist-") + e.split;
  return names + ", cifar10, idx";
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
  DatasetFiles files;
  if (info.format == DataFormat::kCifar10) {
    const std::string nested = dir + "/cifar-10-batches-bin";
    const std::string base =
        fs::is_regular_file(dir + "/test_batch.bin", ec) || !fs::is_directory(nested, ec) ? dir
                                                                                          : nested;
    auto need = [&](const std::string& name) {
      const std::string p = base + "/" + name;
      if (!fs::is_regular_file(p, ec))
        throw DataError(p +
                        ": not found (CIFAR-10's binary version: data_batch_1.bin ... "
                        "data_batch_5.bin and test_batch.bin)");
      return p;
    };
    for (int k = 1; k <= 5; ++k)
      files.train.push_back(need("data_batch_" + std::to_string(k) + ".bin"));
    files.test.push_back(need("test_batch.bin"));
    return files;
  }
  const std::string& p = info.idx_prefix;
  files.train = {need_idx(dir, {p + "train-images-idx3-ubyte"}, info),
                 need_idx(dir, {p + "train-labels-idx1-ubyte"}, info)};
  files.test = {need_idx(dir, {p + "t10k-images-idx3-ubyte", p + "test-images-idx3-ubyte"}, info),
                need_idx(dir, {p + "t10k-labels-idx1-ubyte", p + "test-labels-idx1-ubyte"}, info)};
  return files;
}

DatasetInfo resolve_shape(DatasetInfo info, const DatasetFiles& files) {
  if (!info.shape_from_files) return info;
  const std::vector<int64_t> dims = read_idx_dims(files.train[0], 3);
  if (dims[1] < 1 || dims[2] < 1 || dims[1] > 4096 || dims[2] > 4096)
    throw DataError(files.train[0] + ": images of " + std::to_string(dims[1]) + "x" +
                    std::to_string(dims[2]) + " pixels (expected 1 to 4096 each way)");
  info.height = static_cast<int>(dims[1]);
  info.width = static_cast<int>(dims[2]);
  int top = 0;
  for (const std::string& labels : {files.train[1], files.test[1]}) {
    const IdxArray a = read_idx(labels, 1);
    for (uint8_t l : a.data) top = std::max(top, static_cast<int>(l));
  }
  info.classes = top + 1;
  if (info.classes < 2)
    throw DataError(files.train[1] + ": every label is 0 (a classifier needs two classes)");
  return info;
}

DatasetInfo dataset_for_model(const DataOptions& options) {
  DatasetInfo info = dataset_info(options.dataset);
  if (!info.shape_from_files) return info;
  return resolve_shape(info, find_dataset_files(info, resolve_data_dir(info, options.dir)));
}

RawDataset read_dataset(const DatasetInfo& info, const DatasetFiles& files,
                        const std::function<bool()>& cancelled) {
  if (info.format == DataFormat::kCifar10)
    return {read_cifar10(files.train, cancelled), read_cifar10(files.test, cancelled)};
  return {read_idx_pair(files.train[0], files.train[1], info.height, info.width, info.classes,
                        cancelled),
          read_idx_pair(files.test[0], files.test[1], info.height, info.width, info.classes,
                        cancelled)};
}

}  // namespace nnilib
