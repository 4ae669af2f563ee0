#include "nnilib/train/allocator.h"

#include <cstdlib>
#include <initializer_list>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace nnilib {

void keep_freed_memory() {
#if defined(__GLIBC__)
  static const bool done = [] {
    // The user's own MALLOC_* environment (or GLIBC_TUNABLES) wins.
    for (const char* v : {"MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                          "MALLOC_TOP_PAD_", "GLIBC_TUNABLES"})
      if (std::getenv(v) != nullptr) return true;
    mallopt(M_MMAP_MAX, 0);              // no block is mapped on its own ...
    mallopt(M_TRIM_THRESHOLD, 1 << 30);  // ... or given back while under 1 GiB free
    mallopt(M_TOP_PAD, 64 << 20);        // and the heap grows 64 MiB at a time
    return true;
  }();
  (void)done;
#endif
}

}  // namespace nnilib
