// The check at the safe points of a long wait: data loading, the precision probe, the
// trial channels' retries and polls.
#pragma once

#include <functional>
#include <string>

#include "nnilib/common/error.h"

namespace nnilib {

/// True when `cancelled` is set and returns true (an empty one never cancels).
inline bool is_cancelled(const std::function<bool()>& cancelled) {
  return cancelled && cancelled();
}

/// Throws Interrupted(`what`) when `cancelled` says so; `what` says where the wait was
/// abandoned ("interrupted while reading FILE").
inline void throw_if_cancelled(const std::function<bool()>& cancelled, const std::string& what) {
  if (is_cancelled(cancelled)) throw Interrupted(what);
}

}  // namespace nnilib
