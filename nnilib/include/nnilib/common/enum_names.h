// One name table per enum, read both ways: to_string() and parsing use the same rows, and
// the accepted values a message or a parameter table lists come from it in its order.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace nnilib {

/// One row of an enum's name table.
template <typename Enum>
struct EnumName {
  Enum value;
  const char* name;
};

/// The name of `value` in `table`; "?" when the table lacks it.
template <typename Enum, std::size_t N>
constexpr const char* name_of(const EnumName<Enum> (&table)[N], Enum value) {
  for (const EnumName<Enum>& row : table)
    if (row.value == value) return row.name;
  return "?";
}

/// The value named `name` in `table`; nullopt when none is.
template <typename Enum, std::size_t N>
std::optional<Enum> value_of(const EnumName<Enum> (&table)[N], std::string_view name) {
  for (const EnumName<Enum>& row : table)
    if (name == row.name) return row.value;
  return std::nullopt;
}

}  // namespace nnilib
