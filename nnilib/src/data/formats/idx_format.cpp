// idx: IDX pairs (MNIST's format): <prefix>train-images-idx3-ubyte and its labels, then
// <prefix>t10k-* (or test-*), each gzipped or raw; the shape can come from the headers.
#include <algorithm>
#include <filesystem>

#include "nnilib/common/error.h"
#include "nnilib/data/data_format.h"
#include "nnilib/data/idx.h"

namespace nnilib {
namespace {

namespace fs = std::filesystem;

// `dir/stem.gz`, else `dir/stem`, else "".
std::string existing(const std::string& dir, const std::string& stem) {
  std::error_code ec;
  for (const std::string& p : {dir + "/" + stem + ".gz", dir + "/" + stem})
    if (fs::is_regular_file(p, ec)) return p;
  return "";
}

// The first of `stems` in `dir`; DataError naming the first when none is there.
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

DatasetFiles find_files(const DatasetInfo& info, const std::string& dir) {
  const std::string& p = info.idx_prefix;
  DatasetFiles files;
  files.train = {need_idx(dir, {p + "train-images-idx3-ubyte"}, info),
                 need_idx(dir, {p + "train-labels-idx1-ubyte"}, info)};
  files.test = {need_idx(dir, {p + "t10k-images-idx3-ubyte", p + "test-images-idx3-ubyte"}, info),
                need_idx(dir, {p + "t10k-labels-idx1-ubyte", p + "test-labels-idx1-ubyte"}, info)};
  return files;
}

RawDataset read(const DatasetInfo& info, const DatasetFiles& files,
                const std::function<bool()>& cancelled) {
  return {read_idx_pair(files.train[0], files.train[1], info.height, info.width, info.classes,
                        cancelled),
          read_idx_pair(files.test[0], files.test[1], info.height, info.width, info.classes,
                        cancelled)};
}

// The image size from the training images' header, the classes from the largest label.
DatasetInfo shape(DatasetInfo info, const DatasetFiles& files) {
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

}  // namespace

DataFormat idx_format() { return {"idx", find_files, read, shape}; }

}  // namespace nnilib
