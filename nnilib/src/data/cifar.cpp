#include "data/cifar.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "nnilib/common/cancellation.h"
#include "nnilib/common/error.h"

namespace nnilib {

namespace {
constexpr std::uintmax_t kMaxRecords = 100000;  // a real batch has 10,000
constexpr int kPixels = kCifarRecordBytes - 1;
}  // namespace

LabeledImages read_cifar10(const std::vector<std::string>& paths,
                           const std::function<bool()>& cancelled) {
  LabeledImages set;
  std::vector<uint8_t>& images = set.images.data;
  std::vector<uint8_t>& labels = set.labels.data;
  for (const std::string& path : paths) {
    throw_if_cancelled(cancelled, "interrupted while reading " + path);
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) throw DataError(path + ": cannot read a CIFAR-10 batch (" + ec.message() + ")");
    if (size == 0) throw DataError(path + ": empty file (expected CIFAR-10 records)");
    if (size % kCifarRecordBytes != 0)
      throw DataError(path + ": " + std::to_string(size) +
                      " bytes is not a whole number of CIFAR-10 records (" +
                      std::to_string(kCifarRecordBytes) + " bytes each)");
    const std::uintmax_t records = size / kCifarRecordBytes;
    if (records > kMaxRecords)
      throw DataError(path + ": " + std::to_string(records) +
                      " records, more than a CIFAR-10 batch can hold (at most " +
                      std::to_string(kMaxRecords) + ")");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(path + ": cannot open");
    std::vector<char> record(kCifarRecordBytes);
    const std::size_t first = labels.size();
    images.reserve(images.size() + records * kPixels);
    labels.reserve(first + records);
    for (std::uintmax_t r = 0; r < records; ++r) {
      if (!in.read(record.data(), kCifarRecordBytes))
        throw DataError(path + ": read failed at record " + std::to_string(r));
      const auto label = static_cast<uint8_t>(record[0]);
      if (label > 9)
        throw DataError(path + ": label " + std::to_string(label) + " of record " +
                        std::to_string(r) + " is out of range 0-9");
      labels.push_back(label);
      images.insert(images.end(), record.begin() + 1, record.end());
    }
  }
  const auto n = static_cast<int64_t>(labels.size());
  set.images.dims = {n, 3, 32, 32};
  set.labels.dims = {n};
  return set;
}

}  // namespace nnilib
