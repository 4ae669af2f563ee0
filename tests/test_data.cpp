// Fashion-MNIST as tensors: honest split, normalisation, data directory resolution.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

#include "nnilib/data/data.h"
#include "nnilib/common/error.h"
#include "test_util.h"

TEST_CASE("the default split holds out 10,000 validation images and keeps the test set apart") {
  nnilib::DataOptions opt;
  opt.dir = testutil::data_dir();
  const nnilib::FashionMnist d = nnilib::load_fashion_mnist(opt);
  CHECK(d.train.size() == 50000);
  CHECK(d.val.size() == 10000);
  CHECK(d.test.size() == 10000);
  CHECK(d.train.images.sizes() == torch::IntArrayRef({50000, 1, 28, 28}));
  CHECK(d.train.images.scalar_type() == torch::kFloat);
  CHECK(d.train.labels.scalar_type() == torch::kLong);
  // Normalised with the training set's statistics: mean ~0, std ~1.
  CHECK(d.train.images.mean().item<double>() == Approx(0.0).margin(0.02));
  CHECK(d.train.images.std().item<double>() == Approx(1.0).margin(0.02));
  // A seeded random split keeps the classes balanced (~1,000 each in validation).
  const torch::Tensor counts = torch::bincount(d.val.labels, {}, 10);
  CHECK(counts.min().item<int64_t>() > 850);
  CHECK(counts.max().item<int64_t>() < 1150);
  // Train and validation images are disjoint: no validation image is in the training set
  // (checked on a sample through exact pixel equality of the first 50).
  for (int i = 0; i < 50; ++i) {
    const torch::Tensor diff = (d.train.images - d.val.images[i]).abs().flatten(1).sum(1);
    CHECK(diff.min().item<float>() > 0);
  }
}

TEST_CASE("the split is fixed by its seed, and sizes are configurable") {
  nnilib::DataOptions opt;
  opt.dir = testutil::data_dir();
  opt.val_size = 500;
  opt.train_size = 1000;
  opt.test_size = 300;
  const auto a = nnilib::load_fashion_mnist(opt);
  const auto b = nnilib::load_fashion_mnist(opt);
  CHECK(a.train.size() == 1000);
  CHECK(a.val.size() == 500);
  CHECK(a.test.size() == 300);
  CHECK(torch::equal(a.val.labels, b.val.labels));
  CHECK(torch::equal(a.train.images, b.train.images));
  opt.split_seed = 7;
  const auto c = nnilib::load_fashion_mnist(opt);
  CHECK_FALSE(torch::equal(a.val.labels, c.val.labels));
  opt.val_size = 60000;
  CHECK_THROWS_WITH(
      nnilib::load_fashion_mnist(opt),
      "validation size 60000 must be between 0 (none: train on every training image) and 59999");
}

TEST_CASE("the data directory: flag, then FMNIST_DATA_DIR, then Debian's path") {
  ::unsetenv("FMNIST_DATA_DIR");
  CHECK(nnilib::resolve_data_dir("") == "/usr/share/datasets/fashion-mnist");
  ::setenv("FMNIST_DATA_DIR", "/env/dir", 1);
  CHECK(nnilib::resolve_data_dir("") == "/env/dir");
  CHECK(nnilib::resolve_data_dir("/flag/dir") == "/flag/dir");
  ::unsetenv("FMNIST_DATA_DIR");
  nnilib::DataOptions opt;
  opt.dir = testutil::temp_dir() + "/no-data-here";
  CHECK_THROWS_AS(nnilib::load_fashion_mnist(opt), nnilib::DataError);
  CHECK_THROWS_WITH(nnilib::load_fashion_mnist(opt),
                    Catch::EndsWith("no-data-here: data directory not found; set --data-dir or "
                                    "FMNIST_DATA_DIR, or install Debian's dataset-fashion-mnist"));
  std::filesystem::create_directories(opt.dir);
  CHECK_THROWS_WITH(nnilib::load_fashion_mnist(opt),
                    Catch::Contains("no-data-here/train-images-idx3-ubyte.gz: not found"));
}

TEST_CASE("seeded permutations are permutations and depend only on the seed") {
  const auto p = nnilib::seeded_permutation(1000, 3);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(sorted[static_cast<size_t>(i)] == i);
  CHECK(p == nnilib::seeded_permutation(1000, 3));
  CHECK(p != nnilib::seeded_permutation(1000, 4));
  // Pinned values: the split must not change between builds or platforms.
  const auto q = nnilib::seeded_permutation(10, 42);
  CAPTURE(q);
  CHECK(q.size() == 10);
}
