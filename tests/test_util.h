// Small helpers shared by the tests: where the real data is, a scratch directory.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"

namespace testutil {

/// The real Fashion-MNIST files: $FMNIST_DATA_DIR, else the configured directory.
inline std::string data_dir() {
  const char* env = std::getenv("FMNIST_DATA_DIR");
  return env != nullptr && env[0] != '\0' ? env : NNILIB_TEST_DATA_DIR;
}

/// A scratch directory private to this test process (created on first use).
inline const std::string& temp_dir() {
  static const std::string dir = [] {
    std::string d =
        (std::filesystem::temp_directory_path() / ("nnilib-test-" + std::to_string(::getpid())))
            .string();
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

/// The message of the ParamError that `f` throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const nnilib::ParamError& e) {
    return e.what();
  }
  return "";
}

/// Two-block model-space parameters for every block kind (4), activation (4), pooling (3)
/// and batch norm on/off (2): 96 sets; batch norm goes with a gap head, no batch norm with
/// a flatten head and a hidden layer, so both heads are covered.
inline std::vector<nlohmann::json> every_block_combination() {
  std::vector<nlohmann::json> all;
  for (const char* type : {"plain", "residual", "separable", "separable_residual"})
    for (const char* act : {"relu", "gelu", "silu", "leaky_relu"})
      for (const char* pool : {"max", "avg", "none"})
        for (bool bn : {false, true}) {
          all.push_back({{"num_blocks", 2},
                         {"block_type", type},
                         {"activation", act},
                         {"pool", pool},
                         {"batch_norm", bn},
                         {"conv1_channels", 8},
                         {"conv2_channels", 12},
                         {"head", bn ? "gap" : "flatten"},
                         {"hidden_units", bn ? 0 : 16},
                         {"dropout", 0.2}});
        }
  return all;
}

}  // namespace testutil
