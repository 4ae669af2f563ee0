#include "nnilib/data/dataset_options.h"

#include <cstdlib>
#include <utility>

namespace nnilib {

std::string resolve_data_dir(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("FMNIST_DATA_DIR");
  if (env != nullptr && env[0] != '\0') return env;
  return kDefaultDataDir;
}

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  uint64_t state = seed;
  auto next = [&state]() {  // SplitMix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (int64_t i = n - 1; i > 0; --i) {
    // Unbiased bounded draw by rejection.
    const uint64_t bound = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do r = next();
    while (r >= limit);
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(r % bound)]);
  }
  return perm;
}

}  // namespace nnilib
