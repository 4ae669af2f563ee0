#include "nnilib/blas.h"

#include <dlfcn.h>
#include <link.h>

#include <climits>
#include <cstdlib>
#include <vector>

namespace nnilib {
namespace {

int collect(struct dl_phdr_info* info, size_t, void* data) {
  auto* names = static_cast<std::vector<std::string>*>(data);
  if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0') names->push_back(info->dlpi_name);
  return 0;
}

std::string resolve(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

}  // namespace

BlasInfo detect_blas() {
  std::vector<std::string> libs;
  dl_iterate_phdr(collect, &libs);
  BlasInfo info{"none loaded", "", false};
  for (const std::string& lib : libs) {
    if (lib.find("libblas.so") == std::string::npos) continue;
    info.path = resolve(lib);
    if (info.path.find("openblas") != std::string::npos) {
      info.name = "OpenBLAS";
    } else if (info.path.find("/blas/libblas") != std::string::npos) {
      info.name = "reference BLAS";
      info.reference = true;
    } else {
      info.name = "unknown";
    }
    return info;
  }
  if (dlsym(RTLD_DEFAULT, "openblas_get_config") != nullptr) info.name = "OpenBLAS";
  return info;
}

std::string blas_warning(const BlasInfo& info) {
  if (!info.reference) return "";
  return "warning: LibTorch runs on the slow reference BLAS (" + info.path +
         "); install an optimized one: sudo apt-get install libopenblas0-openmp "
         "(2-3x faster training)";
}

}  // namespace nnilib
