// Which BLAS the process runs on (LibTorch's Linear layers use it), and making sure
// it runs its fast kernels.
#pragma once

#include <string>

namespace nnilib {

/// The BLAS library loaded into this process.
struct BlasInfo {
  std::string name;        ///< "OpenBLAS", "reference BLAS", "unknown" or "none loaded"
  std::string path;        ///< resolved path of the loaded libblas, if any
  std::string core;        ///< OpenBLAS's kernel family ("SkylakeX", "Haswell", ...), if OpenBLAS
  bool reference = false;  ///< true for Netlib's reference BLAS (~30x slower than OpenBLAS)
  /// OpenBLAS runs a generic pre-AVX kernel on a CPU with AVX2/AVX-512 (it did not
  /// recognise the CPU model, as happens on virtual machines): ~5x slower matmuls.
  bool generic_kernel = false;
};

/// Inspects the libraries loaded into this process and the CPU.
BlasInfo detect_blas();

/// One line telling the user how to get a fast BLAS, or "" when not needed.
std::string blas_warning(const BlasInfo& info);

/// When OpenBLAS fell back to its generic kernel on a CPU with AVX2/AVX-512 and
/// OPENBLAS_CORETYPE is unset, re-executes this program (same pid, same arguments)
/// with OPENBLAS_CORETYPE set to the matching kernel (SkylakeX for AVX-512, Haswell
/// for AVX2), after one line on stderr. OpenBLAS picks its kernel when it is loaded,
/// so this is the only way to change it. Call first thing in main(); returns
/// normally when nothing needs to change or NNILIB_KEEP_BLAS is set.
void ensure_fast_openblas(char** argv, const char* program);

}  // namespace nnilib
