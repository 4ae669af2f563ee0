// Secrets that only this process and whom it tells know: the runner's per-trial
// channel URLs and the key of the dashboard's controls.
#pragma once

#include <string>

namespace nnilib {

/// 128 bits from the kernel's random source (getrandom), as 32 hex digits. Throws
/// SystemError naming `what` when the kernel gives none.
std::string random_secret(const std::string& what);

/// Whether `a` equals `b`, in time independent of where they differ.
bool same_secret(const std::string& a, const std::string& b);

}  // namespace nnilib
