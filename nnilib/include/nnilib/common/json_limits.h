// Bounds and hygiene for JSON text that comes from outside the process: metrics a trial sends,
// parameters, search spaces, records read back from an experiment database. The
// parser (nlohmann::json) is iterative, but copying, printing and validating a
// value recurse, so a value nested thousands of levels deep would overflow the
// stack: such text is refused before it is parsed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace nnilib {

/// The deepest nesting of arrays and objects accepted in JSON text from outside.
/// Every real input is far shallower (a nested-choice search space: about 12).
constexpr int kMaxJsonDepth = 64;

/// The deepest nesting of `[` and `{` in `text`, skipping string literals, without
/// parsing it; counting stops at `limit + 1`. Linear time, constant memory.
int json_nesting_depth(std::string_view text, int limit = kMaxJsonDepth);

/// "" when `text` is nested at most kMaxJsonDepth levels, otherwise the reason,
/// e.g. "nested deeper than 64 levels (arrays/objects) at line 3, column 70": where
/// the first bracket too deep is, so a person finds it in a large file.
std::string json_depth_problem(std::string_view text);

/// Parses JSON text from outside without exceptions: a discarded value (is_discarded())
/// when it is not JSON or is nested deeper than kMaxJsonDepth. Json is nlohmann::json
/// or nlohmann::ordered_json.
template <class Json = nlohmann::json>
Json parse_bounded_json(std::string_view text) {
  if (json_nesting_depth(text) > kMaxJsonDepth) return Json(Json::value_t::discarded);
  return Json::parse(text.begin(), text.end(), nullptr, false);
}

/// The offset of the first byte of `text` that is not well-formed UTF-8 (a bad lead
/// byte, a missing continuation, an overlong or out-of-range sequence), or npos.
/// JSON strings must be UTF-8: nlohmann::json throws when it prints one that is not.
std::size_t invalid_utf8_at(std::string_view text);

/// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD,
/// for text from outside (a trial's stderr, a request body) kept in messages.
std::string valid_utf8(std::string_view text);

}  // namespace nnilib
