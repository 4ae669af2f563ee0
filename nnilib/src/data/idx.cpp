#include "nnilib/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "nnilib/common/cancellation.h"
#include "nnilib/common/error.h"

namespace nnilib {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;

// The largest data part accepted (4 GiB; EMNIST ByClass, the largest IDX set in
// use, is 0.55 GB). Sizes come from the header and bound what is inflated, so a
// gzip bomb costs no more memory than the data it honestly declares.
constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 32;
// How many bytes past the declared data are counted for the error message.
constexpr uint64_t kMaxExtraCounted = uint64_t{1} << 20;

// A file read in order, inflated when it is gzip-compressed (zlib's gzread
// passes raw files through unchanged).
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
    {
      std::ifstream probe(path, std::ios::binary);
      if (!probe) throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
    }
    f_ = gzopen(path.c_str(), "rb");
    if (f_ == nullptr) throw DataError(path + ": cannot open (" + std::strerror(errno) + ")");
    gzbuffer(f_, 1 << 20);
  }
  ~IdxStream() { gzclose(f_); }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  // Reads up to `n` bytes into `out`; fewer only at the end of the file.
  uint64_t read(uint8_t* out, uint64_t n) {
    uint64_t done = 0;
    while (done < n) {
      const unsigned want = static_cast<unsigned>(std::min<uint64_t>(n - done, 1u << 26));
      const int got = gzread(f_, out + done, want);
      if (got < 0) corrupt();
      if (got == 0) {
        int err = 0;
        gzerror(f_, &err);
        if (err != Z_OK && err != Z_STREAM_END) corrupt();
        break;
      }
      done += static_cast<uint64_t>(got);
    }
    return done;
  }

 private:
  [[noreturn]] void corrupt() {
    int err = 0;
    const char* msg = gzerror(f_, &err);
    throw DataError(path_ + ": corrupt gzip data (" + std::string(msg ? msg : "") + ")");
  }
  std::string path_;
  gzFile f_ = nullptr;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex_magic(const uint8_t* p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02X%02X%02X%02X", p[0], p[1], p[2], p[3]);
  return buf;
}

// Reads and checks the header: the magic number and the dimensions; returns them and
// the payload size they declare.
std::vector<int64_t> read_header(IdxStream& in, const std::string& path, int expected_ndims,
                                 uint64_t& payload) {
  uint8_t p[4 + 4 * 255];
  const uint64_t got = in.read(p, 4);
  if (got == 0) throw DataError(path + ": empty file (expected an IDX header)");
  if (got < 4) {
    throw DataError(path + ": truncated IDX header (" + std::to_string(got) + " bytes, need 4)");
  }
  const uint32_t expected_magic = 0x00000800u | static_cast<uint32_t>(expected_ndims);
  if (p[0] != 0 || p[1] != 0 || p[2] != kUnsignedByte || p[3] != expected_ndims) {
    char want[16];
    std::snprintf(want, sizeof want, "0x%08X", expected_magic);
    throw DataError(path + ": wrong magic number " + hex_magic(p) + " (expected " + want +
                    ": unsigned bytes, " + std::to_string(expected_ndims) + " dimensions)");
  }
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(expected_ndims);
  const uint64_t got_dims = in.read(p + 4, header - 4);
  if (4 + got_dims < header) {
    throw DataError(path + ": truncated IDX header (" + std::to_string(4 + got_dims) +
                    " bytes, need " + std::to_string(header) + ")");
  }
  std::vector<int64_t> dims;
  payload = 1;
  for (int d = 0; d < expected_ndims; ++d) {
    uint32_t dim = big_endian_u32(p + 4 + 4 * d);
    if (dim > (1u << 30)) {
      throw DataError(path + ": dimension " + std::to_string(d) + " is implausibly large (" +
                      std::to_string(dim) + ")");
    }
    dims.push_back(dim);
    payload = dim == 0 ? 0 : std::min(payload * dim, kMaxIdxBytes + 1);  // no overflow
  }
  if (payload > kMaxIdxBytes) {
    throw DataError(path + ": the header declares more than " + std::to_string(kMaxIdxBytes) +
                    " data bytes (4 GiB), the most this reader accepts");
  }
  return dims;
}

}  // namespace

std::vector<int64_t> read_idx_dims(const std::string& path, int expected_ndims) {
  IdxStream in(path);
  uint64_t payload = 0;
  return read_header(in, path, expected_ndims, payload);
}

IdxArray read_idx(const std::string& path, int expected_ndims,
                  const std::function<bool()>& cancelled) {
  IdxStream in(path);
  IdxArray array;
  uint64_t payload = 0;
  array.dims = read_header(in, path, expected_ndims, payload);
  // Read exactly what the header declares, growing as data arrives (a header that
  // promises more than the file holds costs no memory up front).
  constexpr uint64_t kChunk = uint64_t{1} << 24;
  uint64_t actual = 0;
  while (actual < payload) {
    throw_if_cancelled(cancelled, "interrupted while reading " + path);
    const uint64_t want = std::min(kChunk, payload - actual);
    array.data.resize(actual + want);
    const uint64_t n = in.read(array.data.data() + actual, want);
    actual += n;
    if (n < want) break;
  }
  if (actual < payload) {
    throw DataError(path + ": truncated: header promises " + std::to_string(payload) +
                    " data bytes, file has " + std::to_string(actual));
  }
  // Count what follows, up to a bound, without keeping it.
  uint8_t extra[1 << 16];
  uint64_t excess = 0;
  while (excess <= kMaxExtraCounted) {
    const uint64_t n = in.read(extra, sizeof extra);
    excess += n;
    if (n < sizeof extra) break;
  }
  if (excess > kMaxExtraCounted) {
    throw DataError(path + ": oversized: more than " + std::to_string(kMaxExtraCounted) +
                    " unexpected bytes after the " + std::to_string(payload) + " data bytes");
  }
  if (excess > 0) {
    throw DataError(path + ": oversized: " + std::to_string(excess) +
                    " unexpected bytes after the " + std::to_string(payload) + " data bytes");
  }
  return array;
}

LabeledImages read_idx_pair(const std::string& images_path, const std::string& labels_path,
                            int64_t rows, int64_t cols, int num_classes,
                            const std::function<bool()>& cancelled) {
  LabeledImages set{read_idx(images_path, 3, cancelled), read_idx(labels_path, 1, cancelled)};
  if (set.images.dims[1] != rows || set.images.dims[2] != cols) {
    throw DataError(images_path + ": images are " + std::to_string(set.images.dims[1]) + "x" +
                    std::to_string(set.images.dims[2]) + ", expected " + std::to_string(rows) +
                    "x" + std::to_string(cols));
  }
  if (set.images.count() != set.labels.count()) {
    throw DataError(labels_path + ": has " + std::to_string(set.labels.count()) + " labels but " +
                    images_path + " has " + std::to_string(set.images.count()) + " images");
  }
  for (size_t i = 0; i < set.labels.data.size(); ++i) {
    if (set.labels.data[i] >= num_classes) {
      throw DataError(labels_path + ": label " + std::to_string(set.labels.data[i]) + " at index " +
                      std::to_string(i) + " is out of range 0-" + std::to_string(num_classes - 1));
    }
  }
  return set;
}

}  // namespace nnilib
