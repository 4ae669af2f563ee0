// Reading IDX files (the MNIST / Fashion-MNIST container), gzipped or raw.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nnilib {

/// An IDX array of unsigned bytes: its dimensions and its row-major data.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
  int64_t count() const { return dims.empty() ? 0 : dims.front(); }
};

/// Reads an IDX file of unsigned bytes with `expected_ndims` dimensions. The file
/// may be gzip-compressed or raw (detected from its content, not its name).
/// Validates the magic number, the element type, the number of dimensions, and
/// that the data is exactly as long as the dimensions say (truncated and
/// oversized files are rejected). Throws DataError("<path>: <what is wrong>").
/// `cancelled` is asked every 16 MiB: true throws Interrupted.
IdxArray read_idx(const std::string& path, int expected_ndims,
                  const std::function<bool()>& cancelled = {});

/// The dimensions in the header of an IDX file of unsigned bytes (the data is not
/// read); the same checks of the header as read_idx().
std::vector<int64_t> read_idx_dims(const std::string& path, int expected_ndims);

/// Images and labels read from a matching pair of IDX files.
struct LabeledImages {
  IdxArray images;  ///< [N, rows, cols]
  IdxArray labels;  ///< [N]
};

/// Reads an image file (3 dims, rows x cols as given) and a label file (1 dim)
/// and checks that they agree: same item count, every label in [0, num_classes).
/// The images of LabeledImages are [N, rows, cols] here, [N, C, H, W] from cifar.h.
LabeledImages read_idx_pair(const std::string& images_path, const std::string& labels_path,
                            int64_t rows, int64_t cols, int num_classes,
                            const std::function<bool()>& cancelled = {});

}  // namespace nnilib
