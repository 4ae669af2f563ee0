// Helpers shared by the search-space sources (private to the space module).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"
#include "nnilib/common/json_text.h"

namespace nnilib::space_detail {

// The message helpers of nnilib/common/json_text.h under the short names the space
// sources use.
inline std::string quote(const std::string& s) { return json_quote(s); }
template <class J>
std::string brief(const J& j, std::size_t max = 120) {
  return json_brief(j, max);
}
inline std::string number(double x) { return json_number(x); }

/// Throws ParamError "search space "<label>": <rule>".
[[noreturn]] inline void fail(const std::string& label, const std::string& rule) {
  throw ParamError("search space " + quote(label) + ": " + rule);
}

}  // namespace nnilib::space_detail
