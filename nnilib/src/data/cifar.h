// Reading CIFAR-10's binary batches (data_batch_1.bin ... data_batch_5.bin,
// test_batch.bin of cifar-10-binary.tar.gz). No torch.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nnilib/data/idx.h"

namespace nnilib {

/// Bytes of one CIFAR-10 record: a label byte, then 32x32 red, green and blue bytes.
inline constexpr int kCifarRecordBytes = 1 + 3 * 32 * 32;

/// Reads CIFAR-10 batches, in the order given, into images [N, 3, 32, 32] and labels
/// [N] (as LabeledImages: dims and bytes). Throws DataError naming the file when it is
/// missing or empty, is not a whole number of records, holds more than 100,000 records,
/// or has a label outside 0-9.
/// `cancelled` is asked before each file: true throws Interrupted.
LabeledImages read_cifar10(const std::vector<std::string>& paths,
                           const std::function<bool()>& cancelled = {});

}  // namespace nnilib
