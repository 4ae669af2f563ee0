// The IDX reader on the real Fashion-MNIST files and on crafted bad files.
#include <zlib.h>
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "nnilib/common/error.h"
#include "nnilib/data/idx.h"
#include "test_util.h"

using nnilib::DataError;

namespace {

std::vector<uint8_t> idx_header(uint8_t type, std::vector<uint32_t> dims) {
  std::vector<uint8_t> h = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<uint8_t>(d >> s));
  }
  return h;
}

std::string write_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = testutil::temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string write_gz(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = testutil::temp_dir() + "/" + name;
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  return path;
}

std::vector<uint8_t> labels_file(std::vector<uint8_t> labels) {
  std::vector<uint8_t> b = idx_header(0x08, {static_cast<uint32_t>(labels.size())});
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

std::vector<uint8_t> images_file(uint32_t n, uint32_t rows = 28, uint32_t cols = 28) {
  std::vector<uint8_t> b = idx_header(0x08, {n, rows, cols});
  b.resize(b.size() + size_t{n} * rows * cols, 7);
  return b;
}

}  // namespace

TEST_CASE("real Fashion-MNIST files read with their documented shapes") {
  const std::string dir = testutil::data_dir();
  const auto train = nnilib::read_idx_pair(dir + "/train-images-idx3-ubyte.gz",
                                           dir + "/train-labels-idx1-ubyte.gz", 28, 28, 10);
  CHECK(train.images.dims == std::vector<int64_t>{60000, 28, 28});
  CHECK(train.labels.dims == std::vector<int64_t>{60000});
  const auto test = nnilib::read_idx_pair(dir + "/t10k-images-idx3-ubyte.gz",
                                          dir + "/t10k-labels-idx1-ubyte.gz", 28, 28, 10);
  CHECK(test.images.count() == 10000);
  // Fashion-MNIST is balanced: 6,000 training images per class.
  std::vector<int> per_class(10, 0);
  for (uint8_t l : train.labels.data) per_class[l]++;
  for (int c : per_class) CHECK(c == 6000);
  // The first test label of Fashion-MNIST is 9 (ankle boot), the first training label 9 too.
  CHECK(test.labels.data[0] == 9);
  CHECK(train.labels.data[0] == 9);
}

TEST_CASE("raw and gzipped files read the same") {
  const auto bytes = labels_file({1, 2, 3, 9});
  CHECK(nnilib::read_idx(write_file("raw-labels", bytes), 1).data ==
        nnilib::read_idx(write_gz("gz-labels.gz", bytes), 1).data);
}

TEST_CASE("bad IDX files each give their error naming the file") {
  auto fails_with = [](const std::string& path, int ndims, const std::string& text) {
    try {
      nnilib::read_idx(path, ndims);
      FAIL("no error for " << path);
    } catch (const DataError& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(what.find(path) == 0);
      CHECK(what.find(text) != std::string::npos);
      CHECK(what.find('\n') == std::string::npos);
    }
  };
  fails_with(testutil::temp_dir() + "/does-not-exist", 1, "cannot open");
  fails_with(write_file("empty", {}), 1, "empty file");
  fails_with(write_file("short-header", {0, 0}), 1, "truncated IDX header");
  auto wrong_magic = labels_file({1, 2});
  wrong_magic[2] = 0x0D;  // float data
  fails_with(write_file("wrong-magic", wrong_magic), 1, "wrong magic number 0x00000D01");
  fails_with(write_file("images-as-labels", images_file(2)), 1, "wrong magic number 0x00000803");
  auto truncated = images_file(3);
  truncated.resize(truncated.size() - 10);
  fails_with(write_file("truncated", truncated), 3,
             "truncated: header promises 2352 data bytes, file has 2342");
  auto oversized = labels_file({1, 2, 3});
  oversized.push_back(0);
  fails_with(write_file("oversized", oversized), 1, "oversized: 1 unexpected bytes");
  auto gz = write_gz("cut.gz", images_file(50));
  std::filesystem::resize_file(gz, std::filesystem::file_size(gz) / 2);
  fails_with(gz, 3, "corrupt gzip data");
  // A header that promises 16 TB, in a 16-byte file.
  fails_with(write_file("huge-header", idx_header(0x08, {1u << 30, 1u << 14, 1u << 0})), 3,
             "declares more than 4294967296 data bytes");
  // Promises 60,000 images, holds 10: truncated, without reserving 47 MB first.
  auto short_file = images_file(10);
  short_file[6] = 0xEA;  // count 10 -> 60,000 (0x0000EA60)
  short_file[7] = 0x60;
  fails_with(write_file("short", short_file), 3,
             "truncated: header promises 47040000 data bytes, file has 7840");
}

TEST_CASE("a gzip bomb is inflated no further than its header declares") {
  // 10 images declared, then 1 GiB of zeros (about 1 MB compressed).
  const std::string path = testutil::temp_dir() + "/bomb.gz";
  {
    gzFile f = gzopen(path.c_str(), "wb9");
    const auto header = images_file(10);
    gzwrite(f, header.data(), static_cast<unsigned>(header.size()));
    const std::vector<uint8_t> zeros(1 << 24, 0);
    for (int i = 0; i < 64; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
    gzclose(f);
  }
  REQUIRE(std::filesystem::file_size(path) < (4u << 20));
  try {
    nnilib::read_idx(path, 3);
    FAIL("the bomb was accepted");
  } catch (const DataError& e) {
    CHECK_THAT(e.what(), Catch::Contains("oversized: more than 1048576 unexpected bytes after the "
                                         "7840 data bytes"));
  }
  // This test case runs in a process of its own (ctest): its peak is the reader's.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  CHECK(usage.ru_maxrss < 200 * 1024);  // KiB: far below the 1 GiB inside
}

TEST_CASE("image and label files must agree") {
  const std::string images = write_file("pair-images", images_file(3));
  try {
    nnilib::read_idx_pair(images, write_file("pair-labels-count", labels_file({1, 2})), 28, 28, 10);
    FAIL("count mismatch accepted");
  } catch (const DataError& e) {
    CHECK_THAT(e.what(), Catch::Contains("has 2 labels but") && Catch::Contains("has 3 images"));
  }
  try {
    nnilib::read_idx_pair(images, write_file("pair-labels-10", labels_file({1, 10, 2})), 28, 28,
                          10);
    FAIL("label 10 accepted");
  } catch (const DataError& e) {
    CHECK_THAT(e.what(), Catch::Contains("label 10 at index 1 is out of range 0-9"));
  }
  try {
    nnilib::read_idx_pair(write_file("pair-images-small", images_file(3, 20, 20)),
                          write_file("pair-labels", labels_file({1, 2, 3})), 28, 28, 10);
    FAIL("20x20 accepted");
  } catch (const DataError& e) {
    CHECK_THAT(e.what(), Catch::Contains("images are 20x20, expected 28x28"));
  }
  CHECK(nnilib::read_idx_pair(images, write_file("pair-labels-ok", labels_file({0, 9, 5})), 28, 28,
                              10)
            .labels.count() == 3);
}
