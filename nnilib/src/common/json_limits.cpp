#include "nnilib/json_limits.h"

namespace nnilib {

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

std::string json_depth_problem(std::string_view text) {
  if (json_nesting_depth(text) <= kMaxJsonDepth) return "";
  return "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels (arrays/objects)";
}

}  // namespace nnilib
