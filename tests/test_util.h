// Small helpers shared by the tests: where the real data is, a scratch directory.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"
#include "nnilib/model/block_kind.h"

namespace testutil {

/// The exit code ctest counts as "Skipped" (tests/CMakeLists.txt SKIP_RETURN_CODE).
constexpr int kSkipExitCode = 77;

/// Ends the current test as skipped, with `reason` (use NNILIB_SKIP). Under ctest, which
/// sets NNILIB_TEST_SKIP_LOG, "<test>: <reason>" is appended to that file and the test
/// process exits with kSkipExitCode; run by hand, the binary prints the reason and goes
/// on with the next test case.
inline void skip_test(const std::string& test, const std::string& reason) {
  std::printf("SKIPPED: %s: %s\n", test.c_str(), reason.c_str());
  std::fflush(stdout);
  const char* log = std::getenv("NNILIB_TEST_SKIP_LOG");
  if (log == nullptr || log[0] == '\0') return;
  std::ofstream(log, std::ios::app) << test << ": " << reason << "\n";
  std::exit(kSkipExitCode);
}

}  // namespace testutil

/// Skips the current test case with a reason: ctest reports it as skipped, never passed.
#define NNILIB_SKIP(reason)                                                        \
  do {                                                                             \
    testutil::skip_test(Catch::getResultCapture().getCurrentTestName(), (reason)); \
    return;                                                                        \
  } while (false)

namespace testutil {

/// The real Fashion-MNIST files: $FMNIST_DATA_DIR, else the configured directory.
inline std::string data_dir() {
  const char* env = std::getenv("FMNIST_DATA_DIR");
  return env != nullptr && env[0] != '\0' ? env : NNILIB_TEST_DATA_DIR;
}

/// A scratch directory private to this test process: a fresh mkdtemp directory (never a
/// name another process used before, so nothing stale from a reused pid can be in it),
/// removed when the process that made it exits normally.
inline const std::string& temp_dir() {
  struct Scratch {
    std::string path;
    pid_t owner = ::getpid();
    Scratch() {
      std::string pattern =
          (std::filesystem::temp_directory_path() / "nnilib-test-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr)
        throw std::runtime_error(pattern + ": cannot create a scratch directory");
      path = pattern;
    }
    ~Scratch() {
      if (::getpid() != owner) return;  // a forked child must not remove its parent's files
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Scratch scratch;
  return scratch.path;
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

/// Two-block model-space parameters for every block kind of the registry (5 today: a new
/// kind is tested by every test that uses these), activation (4), pooling (3) and batch
/// norm on/off (2): 120 sets; batch norm goes with a gap head, no batch norm with
/// a flatten head and a hidden layer, so both heads are covered.
inline std::vector<nlohmann::json> every_block_combination() {
  std::vector<nlohmann::json> all;
  for (const nnilib::BlockKind& kind : nnilib::block_kinds())
    for (const char* act : {"relu", "gelu", "silu", "leaky_relu"})
      for (const char* pool : {"max", "avg", "none"})
        for (bool bn : {false, true}) {
          all.push_back({{"num_blocks", 2},
                         {"block_type", kind.name},
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

// ---- synthetic data sets (dataset.h) ------------------------------------------

/// Bytes of a CIFAR-10 record: a label, then 32x32 red, green and blue.
inline constexpr int kCifarRecord = 1 + 3 * 32 * 32;

// Writes an uncompressed IDX file of unsigned bytes.
inline void write_idx(const std::string& path, const std::vector<uint32_t>& dims,
                      const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary);
  const uint8_t magic[4] = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (uint32_t d : dims) {
    const uint8_t be[4] = {static_cast<uint8_t>(d >> 24), static_cast<uint8_t>(d >> 16),
                           static_cast<uint8_t>(d >> 8), static_cast<uint8_t>(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// A synthetic IDX set of n train and m test images of h x w, labels k mod classes.
inline std::string idx_set(const std::string& name, const std::string& prefix, uint32_t n,
                           uint32_t m, uint32_t h, uint32_t w, int classes,
                           const std::string& test_word = "t10k") {
  const std::string dir = temp_dir() + "/" + name;
  std::filesystem::create_directories(dir);
  for (const auto& [split, count] :
       {std::pair<std::string, uint32_t>{"train", n}, {test_word, m}}) {
    std::vector<uint8_t> images(static_cast<size_t>(count) * h * w), labels(count);
    for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<uint8_t>((i * 37) % 256);
    for (uint32_t i = 0; i < count; ++i) labels[i] = static_cast<uint8_t>(i % classes);
    write_idx(dir + "/" + prefix + split + "-images-idx3-ubyte", {count, h, w}, images);
    write_idx(dir + "/" + prefix + split + "-labels-idx1-ubyte", {count}, labels);
  }
  return dir;
}

// A synthetic CIFAR-10 batch of `records` records: label r % 10, pixels from r.
inline void cifar_batch(const std::string& path, int records, int first_label = 0) {
  std::ofstream out(path, std::ios::binary);
  for (int r = 0; r < records; ++r) {
    std::vector<char> record(kCifarRecord);
    record[0] = static_cast<char>((first_label + r) % 10);
    for (int i = 1; i < kCifarRecord; ++i)
      record[static_cast<size_t>(i)] = static_cast<char>((r * 7 + i * (1 + i / 1024)) % 256);
    out.write(record.data(), static_cast<std::streamsize>(record.size()));
  }
}

inline std::string cifar_set(const std::string& name, int per_batch) {
  const std::string dir = temp_dir() + "/" + name + "/cifar-10-batches-bin";
  std::filesystem::create_directories(dir);
  for (int k = 1; k <= 5; ++k)
    cifar_batch(dir + "/data_batch_" + std::to_string(k) + ".bin", per_batch, k);
  cifar_batch(dir + "/test_batch.bin", per_batch);
  return temp_dir() + "/" + name;
}

}  // namespace testutil
