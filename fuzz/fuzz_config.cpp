// fuzz_config: NNI's config.yml (nnilib/experiment_config.h). The input is YAML text
// for ExperimentConfig::parse(); a config that parses is stored and restored the way
// fmnist-nas does for resume (to_json, from_json) and its optimize mode is read.
// Paths resolve against a temporary directory holding a small search_space.json, so
// `searchSpaceFile: search_space.json` works. Documented failure: ParamError.
// Anything else (a yaml-cpp exception included) is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"
#include "nnilib/runner/experiment_config.h"

namespace {

constexpr const char* kSpace = R"({
  "lr": {"_type": "loguniform", "_value": [0.0001, 0.1]},
  "conv": {"_type": "choice", "_value": [
    {"_name": "plain", "channels": {"_type": "choice", "_value": [16, 32]}},
    {"_name": "residual", "kernel": {"_type": "randint", "_value": [3, 6]}}]}
})";

// A directory with search_space.json, removed at exit; the config "lives" there.
std::string config_path() {
  static const std::string path = [] {
    char dir[] = "/tmp/nnilib-fuzz-config-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string space_file = std::string(dir) + "/search_space.json";
    static std::string dir_name = dir;
    std::ofstream(space_file) << kSpace;
    std::atexit([] {
      std::remove(space_file.c_str());
      rmdir(dir_name.c_str());
    });
    return std::string(dir) + "/config.yml";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    const nnilib::ExperimentConfig config = nnilib::ExperimentConfig::parse(yaml, config_path());
    (void)nnilib::optimize_mode_of(config);
    const nlohmann::ordered_json stored = config.to_json();
    const nnilib::ExperimentConfig restored =
        nnilib::ExperimentConfig::from_json(stored, "fuzz experiment");
    (void)restored.to_json().dump();
  } catch (const nnilib::ParamError&) {
  }
  return 0;
}
