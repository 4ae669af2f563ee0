// Looking up an entry of a registry by its name (block kinds, data formats): the entry,
// or one ParamError that lists what there is.
#pragma once

#include <string>
#include <vector>

#include "nnilib/common/error.h"

namespace nnilib {

/// The entry of `entries` (each with a `name`) named `name`; ParamError
/// "unknown <what> "<name>" (known: a, b, c)" for any other name.
template <class Entry>
const Entry& find_named(const std::vector<Entry>& entries, const std::string& name,
                        const std::string& what) {
  std::string known;
  for (const Entry& e : entries) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw ParamError("unknown " + what + " \"" + name + "\" (known: " + known + ")");
}

}  // namespace nnilib
