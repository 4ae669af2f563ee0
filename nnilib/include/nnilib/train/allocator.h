// How the process's memory allocator treats the large blocks training frees and asks
// for again at every batch.
#pragma once

namespace nnilib {

/// Makes glibc's malloc keep freed memory for reuse instead of giving every large block
/// back to the kernel: by default a block over its mmap threshold (128 KiB at first,
/// at most 32 MiB) is mapped fresh and unmapped when freed, so a batch's activations
/// are page-faulted and zeroed by the kernel again at every step. Measured on a 2-core
/// machine (docs/benchmarks.md "The allocator"): the first epoch of a trial ran up to
/// 3x faster and evaluation in batches of 1000 up to 10x faster, a third of the time
/// having gone to the kernel. Memory is then held until the process ends (a trial's peak
/// stays its peak). Idempotent; leaves malloc alone where the user set MALLOC_ tunables.
void keep_freed_memory();

}  // namespace nnilib
