#include "nnilib/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "nnilib/error.h"

namespace nnilib {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;

// Reads the whole file, inflating it when it is gzip-compressed (zlib's gzread
// passes raw files through unchanged).
std::vector<uint8_t> read_all(const std::string& path) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
  gzbuffer(f, 1 << 20);
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 22);
  for (;;) {
    int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw DataError(path + ": corrupt gzip data (" + msg + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  int err = 0;
  const char* msg = gzerror(f, &err);
  std::string message = msg ? msg : "";
  gzclose(f);
  if (err != Z_OK && err != Z_STREAM_END) {
    throw DataError(path + ": corrupt gzip data (" + message + ")");
  }
  return out;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex_magic(const uint8_t* p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02X%02X%02X%02X", p[0], p[1], p[2], p[3]);
  return buf;
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_ndims) {
  std::vector<uint8_t> bytes = read_all(path);
  if (bytes.empty()) throw DataError(path + ": empty file (expected an IDX header)");
  if (bytes.size() < 4) {
    throw DataError(path + ": truncated IDX header (" + std::to_string(bytes.size()) +
                    " bytes, need 4)");
  }
  const uint8_t* p = bytes.data();
  const uint32_t expected_magic = 0x00000800u | static_cast<uint32_t>(expected_ndims);
  if (p[0] != 0 || p[1] != 0 || p[2] != kUnsignedByte || p[3] != expected_ndims) {
    char want[16];
    std::snprintf(want, sizeof want, "0x%08X", expected_magic);
    throw DataError(path + ": wrong magic number " + hex_magic(p) + " (expected " + want +
                    ": unsigned bytes, " + std::to_string(expected_ndims) + " dimensions)");
  }
  const size_t header = 4 + 4 * static_cast<size_t>(expected_ndims);
  if (bytes.size() < header) {
    throw DataError(path + ": truncated IDX header (" + std::to_string(bytes.size()) +
                    " bytes, need " + std::to_string(header) + ")");
  }
  IdxArray array;
  uint64_t payload = 1;
  for (int d = 0; d < expected_ndims; ++d) {
    uint32_t dim = big_endian_u32(p + 4 + 4 * d);
    if (dim > (1u << 30)) {
      throw DataError(path + ": dimension " + std::to_string(d) + " is implausibly large (" +
                      std::to_string(dim) + ")");
    }
    array.dims.push_back(dim);
    payload *= dim;
  }
  const uint64_t actual = bytes.size() - header;
  if (actual < payload) {
    throw DataError(path + ": truncated: header promises " + std::to_string(payload) +
                    " data bytes, file has " + std::to_string(actual));
  }
  if (actual > payload) {
    throw DataError(path + ": oversized: " + std::to_string(actual - payload) +
                    " unexpected bytes after the " + std::to_string(payload) + " data bytes");
  }
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return array;
}

LabeledImages read_idx_pair(const std::string& images_path, const std::string& labels_path,
                            int64_t rows, int64_t cols, int num_classes) {
  LabeledImages set{read_idx(images_path, 3), read_idx(labels_path, 1)};
  if (set.images.dims[1] != rows || set.images.dims[2] != cols) {
    throw DataError(images_path + ": images are " + std::to_string(set.images.dims[1]) + "x" +
                    std::to_string(set.images.dims[2]) + ", expected " + std::to_string(rows) +
                    "x" + std::to_string(cols));
  }
  if (set.images.count() != set.labels.count()) {
    throw DataError(labels_path + ": has " + std::to_string(set.labels.count()) +
                    " labels but " + images_path + " has " + std::to_string(set.images.count()) +
                    " images");
  }
  for (size_t i = 0; i < set.labels.data.size(); ++i) {
    if (set.labels.data[i] >= num_classes) {
      throw DataError(labels_path + ": label " + std::to_string(set.labels.data[i]) +
                      " at index " + std::to_string(i) + " is out of range 0-" +
                      std::to_string(num_classes - 1));
    }
  }
  return set;
}

}  // namespace nnilib
