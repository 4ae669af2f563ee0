// Small helpers shared by the tests: where the real data is, a scratch directory.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "nnilib/error.h"

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

}  // namespace testutil
