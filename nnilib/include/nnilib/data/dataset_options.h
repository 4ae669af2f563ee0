// Where the data comes from and how it is split (no torch).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nnilib {

/// Default location of Debian's dataset-fashion-mnist package.
inline constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

/// Which data set to load and how to split it.
struct DataOptions {
  std::string dataset = "fashion-mnist";  ///< a name of dataset.h's dataset_info()
  std::string dir;                        ///< "" = resolve_data_dir(info, "")
  int64_t val_size = 10000;               ///< held out of the training images for validation
  int64_t train_size = 0;    ///< training images to use after the split; 0 = all the rest
  int64_t test_size = 0;     ///< test images to use; 0 = all
  uint64_t split_seed = 42;  ///< fixed so that every trial validates on the same images
  /// Asked between files and every 16 MiB read: true stops loading with Interrupted
  /// (a trial's SIGINT acts while it loads its data, not after).
  std::function<bool()> cancelled;
};

/// The data directory: `flag` if not empty, else $FMNIST_DATA_DIR, else kDefaultDataDir.
std::string resolve_data_dir(const std::string& flag);

/// A permutation of [0, n) from a seed, identical on every platform (Fisher-Yates
/// over SplitMix64; does not depend on the standard library's distributions).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

}  // namespace nnilib
