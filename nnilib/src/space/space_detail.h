// Helpers shared by the search-space sources (not installed, not public).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "nnilib/error.h"

namespace nnilib::space_detail {

/// `s` as a JSON string literal: quoted, escaped, always one line.
inline std::string quote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// One-line JSON of `j` with a space after commas and colons ("[0, 0.1]"),
/// cut to about `max` characters.
template <class J>
void brief_into(const J& j, std::string& out, std::size_t max) {
  if (out.size() > max) return;
  if (j.is_array() || j.is_object()) {
    out += j.is_array() ? '[' : '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end() && out.size() <= max; ++it) {
      if (!first) out += ", ";
      first = false;
      if (j.is_object()) out += quote(it.key()) + ": ";
      brief_into(it.value(), out, max);
    }
    out += j.is_array() ? ']' : '}';
  } else {
    out += j.dump(-1, ' ', false, J::error_handler_t::replace);
  }
}
template <class J>
std::string brief(const J& j, std::size_t max = 120) {
  std::string s;
  brief_into(j, s, max);
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

/// A number the way JSON writes it (shortest round trip; integers without ".0").
std::string number(double x);

/// Throws ParamError "search space "<label>": <rule>".
[[noreturn]] inline void fail(const std::string& label, const std::string& rule) {
  throw ParamError("search space " + quote(label) + ": " + rule);
}

}  // namespace nnilib::space_detail
