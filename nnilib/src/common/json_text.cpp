#include "nnilib/common/json_text.h"

#include <cmath>
#include <cstdint>

namespace nnilib {

std::string json_number(double x) {
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15)
    return std::to_string(static_cast<std::int64_t>(x));
  return nlohmann::json(x).dump();
}

}  // namespace nnilib
