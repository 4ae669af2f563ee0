// cifar10: CIFAR-10's binary batches, data_batch_1.bin ... data_batch_5.bin and
// test_batch.bin, in the directory or its cifar-10-batches-bin/.
#include <filesystem>

#include "data/cifar.h"
#include "nnilib/common/error.h"
#include "nnilib/data/data_format.h"

namespace nnilib {
namespace {

namespace fs = std::filesystem;

DatasetFiles find_files(const DatasetInfo&, const std::string& dir) {
  std::error_code ec;
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
  DatasetFiles files;
  for (int k = 1; k <= 5; ++k)
    files.train.push_back(need("data_batch_" + std::to_string(k) + ".bin"));
  files.test.push_back(need("test_batch.bin"));
  return files;
}

RawDataset read(const DatasetInfo&, const DatasetFiles& files,
                const std::function<bool()>& cancelled) {
  return {read_cifar10(files.train, cancelled), read_cifar10(files.test, cancelled)};
}

}  // namespace

DataFormat cifar10_format() { return {"cifar10", find_files, read, {}}; }

}  // namespace nnilib
