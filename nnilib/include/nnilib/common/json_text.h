// JSON values as they appear in one-line error messages: a quoted string, a short
// excerpt of a value, a number as JSON writes it.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace nnilib {

/// `s` as a JSON string literal: quoted, escaped, always one line (invalid UTF-8
/// replaced).
inline std::string json_quote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Appends the one-line JSON of `j` with a space after commas and colons ("[0, 0.1]")
/// to `out`, stopping once `out` is longer than `max`.
template <class J>
void json_brief_into(const J& j, std::string& out, std::size_t max) {
  if (out.size() > max) return;
  if (j.is_array() || j.is_object()) {
    out += j.is_array() ? '[' : '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end() && out.size() <= max; ++it) {
      if (!first) out += ", ";
      first = false;
      if (j.is_object()) out += json_quote(it.key()) + ": ";
      json_brief_into(it.value(), out, max);
    }
    out += j.is_array() ? ']' : '}';
  } else {
    out += j.dump(-1, ' ', false, J::error_handler_t::replace);
  }
}

/// The one-line JSON of `j`, cut to `max` characters and "..." when longer.
template <class J>
std::string json_brief(const J& j, std::size_t max = 120) {
  std::string s;
  json_brief_into(j, s, max);
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

/// A number the way JSON writes it (shortest round trip; integers without ".0").
std::string json_number(double x);

}  // namespace nnilib
