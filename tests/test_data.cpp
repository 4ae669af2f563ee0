// Data sets as tensors: honest split, normalisation, data directory resolution;
// Fashion-MNIST (real), synthetic IDX sets and CIFAR-10 batches (valid and corrupt).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "nnilib/common/error.h"
#include "nnilib/data/data.h"
#include "nnilib/data/data_format.h"
#include "test_util.h"

TEST_CASE("the default split holds out 10,000 validation images and keeps the test set apart") {
  nnilib::DataOptions opt;
  opt.dir = testutil::data_dir();
  const nnilib::Dataset d = nnilib::load_dataset(opt);
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
  const auto a = nnilib::load_dataset(opt);
  const auto b = nnilib::load_dataset(opt);
  CHECK(a.train.size() == 1000);
  CHECK(a.val.size() == 500);
  CHECK(a.test.size() == 300);
  CHECK(torch::equal(a.val.labels, b.val.labels));
  CHECK(torch::equal(a.train.images, b.train.images));
  opt.split_seed = 7;
  const auto c = nnilib::load_dataset(opt);
  CHECK_FALSE(torch::equal(a.val.labels, c.val.labels));
  opt.val_size = 60000;
  CHECK_THROWS_WITH(
      nnilib::load_dataset(opt),
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
  CHECK_THROWS_AS(nnilib::load_dataset(opt), nnilib::DataError);
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    Catch::EndsWith("no-data-here: data directory not found; set --data-dir or "
                                    "FMNIST_DATA_DIR, or install Debian's dataset-fashion-mnist"));
  std::filesystem::create_directories(opt.dir);
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    Catch::Contains("no-data-here/train-images-idx3-ubyte.gz: not found"));
  // A directory in a data file's place is named as what it is.
  std::filesystem::create_directories(opt.dir + "/train-images-idx3-ubyte.gz");
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    Catch::EndsWith("no-data-here/train-images-idx3-ubyte.gz: is a directory, "
                                    "not the data file"));
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

TEST_CASE("data sets by name: shapes, classes, default directories, unknown names") {
  CHECK(nnilib::dataset_info("fashion-mnist").mean == std::vector<float>{0.2860f});
  CHECK(nnilib::dataset_info("emnist-balanced").classes == 47);
  CHECK(nnilib::dataset_info("emnist-letters").classes == 27);  // labels 1-26
  const nnilib::DatasetInfo cifar = nnilib::dataset_info("cifar10");
  CHECK(cifar.channels == 3);
  CHECK(cifar.height == 32);
  CHECK_THROWS_WITH(nnilib::dataset_info("imagenet"),
                    "unknown data set \"imagenet\" (accepted: fashion-mnist, mnist, kmnist, "
                    "emnist-balanced, emnist-byclass, emnist-bymerge, emnist-digits, "
                    "emnist-letters, emnist-mnist, cifar10, idx)");
  CHECK_THROWS_WITH(nnilib::resolve_data_dir(nnilib::dataset_info("mnist"), ""),
                    "--dataset mnist needs --data-dir: the directory that holds its files");
}

TEST_CASE("data formats register like tuners: every data set's format is registered") {
  std::vector<std::string> formats;
  for (const nnilib::DataFormat& f : nnilib::data_formats()) {
    formats.push_back(f.name);
    CHECK(f.find_files);
    CHECK(f.read);
  }
  CHECK(formats == std::vector<std::string>{"idx", "cifar10"});
  CHECK(nnilib::data_format("idx").shape);  // "idx" data sets take their shape from the files
  CHECK_THROWS_WITH(nnilib::data_format("tfrecord"),
                    "unknown data format \"tfrecord\" (known: idx, cifar10)");
  std::string names;
  for (const char* name :
       {"fashion-mnist", "mnist", "kmnist", "emnist-balanced", "emnist-byclass", "emnist-bymerge",
        "emnist-digits", "emnist-letters", "emnist-mnist", "cifar10", "idx"}) {
    const nnilib::DatasetInfo info = nnilib::dataset_info(name);
    CHECK(info.name == name);
    CHECK(nnilib::data_format(info.format).name == info.format);
    if (info.shape_from_files) CHECK(nnilib::data_format(info.format).shape);
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  CHECK(nnilib::dataset_names() == names);
  // Where a data set's files are missing, the message says what to do.
  const std::string empty = testutil::temp_dir() + "/no-data";
  std::filesystem::create_directories(empty);
  CHECK_THROWS_WITH(
      nnilib::find_dataset_files(nnilib::dataset_info("kmnist"), empty),
      empty +
          "/train-images-idx3-ubyte.gz: not found (nor train-images-idx3-ubyte without "
          ".gz); point --data-dir at the directory of the kmnist files");
  CHECK_THROWS_WITH(nnilib::find_dataset_files(nnilib::dataset_info("cifar10"), empty),
                    Catch::StartsWith(empty + "/data_batch_1.bin: not found"));
}

TEST_CASE("any IDX set: size and classes from its files, statistics from its training split") {
  nnilib::DataOptions opt;
  opt.dataset = "idx";
  opt.dir = testutil::idx_set("idx20", "", 300, 100, 20, 16, 3, "test");  // test-* names work too
  opt.val_size = 50;
  const nnilib::Dataset d = nnilib::load_dataset(opt);
  CHECK(d.info.height == 20);
  CHECK(d.info.width == 16);
  CHECK(d.info.classes == 3);
  CHECK(d.train.images.sizes() == torch::IntArrayRef({250, 1, 20, 16}));
  CHECK(d.test.size() == 100);
  // Normalized with the training images' own mean and standard deviation.
  REQUIRE(d.info.mean.size() == 1);
  CHECK(d.train.images.mean().item<double>() == Approx(0.0).margin(1e-4));
  CHECK(d.train.images.std(/*unbiased=*/false).item<double>() == Approx(1.0).margin(1e-4));
  CHECK(d.info.model_input().classes == 3);

  // A named IDX set with a prefix (EMNIST), read by directory.
  opt.dataset = "emnist-digits";
  opt.dir = testutil::idx_set("emnist", "emnist-digits-", 200, 50, 28, 28, 10, "test");
  CHECK(nnilib::load_dataset(opt).train.size() == 150);
  // A label beyond the set's classes names the file.
  opt.dataset = "mnist";
  opt.dir = testutil::idx_set("mnist-bad", "", 200, 50, 28, 28, 12);
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    Catch::Contains("mnist-bad/train-labels-idx1-ubyte: label 10 at index 10 is "
                                    "out of range 0-9"));
  // Images of another size than the set's.
  opt.dir = testutil::idx_set("mnist-size", "", 200, 50, 20, 20, 10);
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    Catch::Contains("train-images-idx3-ubyte: images are 20x20, expected 28x28"));
}

TEST_CASE("CIFAR-10 batches: 3x32x32 per channel, corrupt batches name the file") {
  nnilib::DataOptions opt;
  opt.dataset = "cifar10";
  opt.dir = testutil::cifar_set("cifar", 40);  // its cifar-10-batches-bin/ is found
  opt.val_size = 20;
  const nnilib::Dataset d = nnilib::load_dataset(opt);
  CHECK(d.train.images.sizes() == torch::IntArrayRef({180, 3, 32, 32}));
  CHECK(d.test.size() == 40);
  CHECK(d.info.mean.size() == 3);
  // Each channel normalized by its own statistics over the training images.
  const torch::Tensor per_channel = d.train.images.transpose(0, 1).reshape({3, -1});
  for (int c = 0; c < 3; ++c) {
    CHECK(per_channel[c].mean().item<double>() == Approx(0.0).margin(1e-4));
    CHECK(per_channel[c].std(/*unbiased=*/false).item<double>() == Approx(1.0).margin(1e-4));
  }
  // The first record of data_batch_1 went somewhere: labels are 0-9.
  CHECK(d.train.labels.max().item<int64_t>() <= 9);

  const std::string batch = opt.dir + "/cifar-10-batches-bin/data_batch_3.bin";
  { std::ofstream(batch, std::ios::app) << "x"; }  // one byte too many
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    batch +
                        ": 122921 bytes is not a whole number of CIFAR-10 records (3073 bytes "
                        "each)");
  CHECK_THROWS_AS(nnilib::load_dataset(opt), nnilib::DataError);
  testutil::cifar_batch(batch, 40, 0);
  {
    std::fstream f(batch, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3073 * 5);
    f.put(static_cast<char>(11));
  }
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    batch + ": label 11 of record 5 is out of range 0-9");
  std::filesystem::remove(batch);
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    Catch::StartsWith(batch + ": not found (CIFAR-10's binary version"));
}

TEST_CASE("loading stops when its cancellation says so: between files and within a large one") {
  nnilib::DataOptions opt;
  opt.dir = testutil::data_dir();
  std::vector<int> asked;  // the call numbers at which loading asked
  int calls = 0;
  // Stops at the n-th question: the first is before reading the training images' data,
  // the second 16 MiB into them (47 MB of pixels), later ones at the following files.
  for (int stop_at : {1, 2, 4}) {
    calls = 0;
    opt.cancelled = [&] { return ++calls == stop_at; };
    CHECK_THROWS_AS(nnilib::load_dataset(opt), nnilib::Interrupted);
    CHECK(calls == stop_at);
  }
  calls = 0;
  opt.cancelled = [&] { return ++calls == 2; };
  CHECK_THROWS_WITH(nnilib::load_dataset(opt),
                    Catch::StartsWith("interrupted while reading " + opt.dir) &&
                        Catch::Contains("train-images-idx3-ubyte"));
  // Never cancelled: loads as before, having asked once per 16 MiB and per file.
  calls = 0;
  opt.cancelled = [&] { return ++calls < 0; };
  CHECK(nnilib::load_dataset(opt).train.size() == 50000);
  CHECK(calls >= 6);

  nnilib::DataOptions cifar;
  cifar.dataset = "cifar10";
  cifar.dir = testutil::cifar_set("cifar-cancel", 40);
  cifar.val_size = 20;
  calls = 0;
  cifar.cancelled = [&] { return ++calls == 3; };  // before data_batch_3.bin
  CHECK_THROWS_WITH(nnilib::load_dataset(cifar), Catch::EndsWith("data_batch_3.bin"));
}
