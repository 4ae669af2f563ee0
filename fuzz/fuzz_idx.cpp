// fuzz_idx: the IDX reader (nnilib/idx.h), gzipped or raw. The first input byte
// chooses how the rest is read:
//   bit 0     1: gzip-compress the rest first (so the fuzzer reaches the IDX checks
//             behind a valid gzip stream); 0: the rest as the file, raw (it may be
//             gzip data itself: truncated, corrupt, concatenated members, bombs)
//   bits 1-2  expected dimensions 1, 2, 3 (3 again for 3)
//   bit 3     read_idx_pair(): the rest is split in two files, images then labels,
//             at the offset in the next two bytes; rows = cols = the byte after.
// The files are in-memory (memfd). Documented failure: DataError.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "fuzz_util.h"
#include "nnilib/common/error.h"
#include "nnilib/data/idx.h"

namespace {

std::vector<std::uint8_t> gzip(const std::uint8_t* data, std::size_t size) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    std::abort();
  std::vector<std::uint8_t> out(deflateBound(&z, size));
  z.next_in = const_cast<std::uint8_t*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void put(nnilib_fuzz::MemFile& file, bool compress, const std::uint8_t* data, std::size_t size) {
  if (compress) {
    const std::vector<std::uint8_t> gz = gzip(data, size);
    file.write(gz.data(), gz.size());
  } else {
    file.write(data, size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nnilib_fuzz::MemFile images("images-idx");
  static nnilib_fuzz::MemFile labels("labels-idx");
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const bool compress = (mode & 1) != 0;
  const int ndims = std::min(1 + ((mode >> 1) & 3), 3);
  ++data;
  --size;
  try {
    if ((mode & 8) == 0) {
      put(images, compress, data, size);
      const nnilib::IdxArray a = nnilib::read_idx(images.path(), ndims);
      (void)a.count();
      return 0;
    }
    if (size < 3) return 0;
    const std::size_t split = std::min<std::size_t>(data[0] | (data[1] << 8), size - 3);
    const int side = data[2];
    data += 3;
    size -= 3;
    put(images, compress, data, split);
    put(labels, compress, data + split, size - split);
    const nnilib::LabeledImages pair =
        nnilib::read_idx_pair(images.path(), labels.path(), side, side, 10);
    (void)pair.images.count();
  } catch (const nnilib::DataError&) {
  }
  return 0;
}
