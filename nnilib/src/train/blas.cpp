#include "nnilib/train/blas.h"

#include <dlfcn.h>
#include <link.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

std::string openblas_core() {
  using CoreName = char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = fn != nullptr ? fn() : nullptr;
  return name != nullptr ? name : "";
}

// OpenBLAS's kernels older than AVX2, which it falls back to for unknown CPU models.
bool pre_avx2_core(const std::string& core) {
  for (const char* old : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                          "Sandybridge", "Katmai", "Coppermine", "Northwood", "Banias"}) {
    if (strcasecmp(core.c_str(), old) == 0) return true;
  }
  return false;
}

bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

}  // namespace

BlasInfo detect_blas() {
  std::vector<std::string> libs;
  dl_iterate_phdr(collect, &libs);
  BlasInfo info{"none loaded", "", "", false, false};
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
    break;
  }
  info.core = openblas_core();
  if (!info.core.empty() && !info.reference) info.name = "OpenBLAS";
  info.generic_kernel = !info.core.empty() && pre_avx2_core(info.core) && cpu_has_avx2();
  return info;
}

std::string blas_warning(const BlasInfo& info) {
  if (info.reference) {
    return "warning: LibTorch runs on the slow reference BLAS (" + info.path +
           "); install an optimized one: sudo apt-get install libopenblas0-openmp "
           "(2-3x faster training)";
  }
  if (info.generic_kernel) {
    return "warning: OpenBLAS runs its generic " + info.core +
           " kernel on this AVX2/AVX-512 CPU (~5x slower matmuls); set OPENBLAS_CORETYPE=" +
           (cpu_has_avx512() ? "SkylakeX" : "Haswell");
  }
  return "";
}

void ensure_fast_openblas(char** argv, const char* program) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || std::getenv("NNILIB_KEEP_BLAS") != nullptr) {
    return;
  }
  const BlasInfo info = detect_blas();
  if (!info.generic_kernel) return;
  const char* core = cpu_has_avx512() ? "SkylakeX" : "Haswell";
  std::fprintf(stderr,
               "%s: OpenBLAS did not recognise this CPU and chose its generic %s kernel; "
               "restarting with OPENBLAS_CORETYPE=%s (set OPENBLAS_CORETYPE or "
               "NNILIB_KEEP_BLAS=1 to decide yourself)\n",
               program, info.core.c_str(), core);
  std::fflush(stderr);
  setenv("OPENBLAS_CORETYPE", core, 1);
  execv("/proc/self/exe", argv);
  // exec failed: carry on with the slow kernel rather than not at all.
  std::fprintf(stderr, "%s: could not restart (%s); continuing with the %s kernel\n", program,
               std::strerror(errno), info.core.c_str());
}

}  // namespace nnilib
