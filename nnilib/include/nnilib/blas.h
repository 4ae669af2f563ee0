// Which BLAS the process runs on (LibTorch's Linear layers and parts of conv use it).
#pragma once

#include <string>

namespace nnilib {

/// The BLAS library loaded into this process.
struct BlasInfo {
  std::string name;        ///< "OpenBLAS", "reference BLAS", "unknown" or "none loaded"
  std::string path;        ///< resolved path of the loaded libblas, if any
  bool reference = false;  ///< true for Netlib's reference BLAS (~30x slower than OpenBLAS)
};

/// Inspects the libraries loaded into this process.
BlasInfo detect_blas();

/// One line telling the user how to switch to an optimized BLAS, or "" when not needed.
std::string blas_warning(const BlasInfo& info);

}  // namespace nnilib
