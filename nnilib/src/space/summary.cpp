// Search space: one-line descriptions of dimensions, for `--check-space` and logs.
#include <algorithm>
#include <cmath>
#include <limits>

#include "nnilib/space/space.h"
#include "space/space_detail.h"

namespace nnilib {

namespace {

std::string count_words(std::uint64_t n, const char* what) {
  if (n == std::numeric_limits<std::uint64_t>::max()) return std::string("more than 2^64 ") + what;
  return std::to_string(n) + " " + what;
}

}  // namespace

std::string Dimension::describe() const {
  using space_detail::brief;
  const auto arg = [&](std::size_t i) { return brief(spec_value.at(i)); };
  switch (type) {
    case SpaceType::kChoice: {
      constexpr std::size_t kShown = 10;
      std::string s = std::to_string(options.size()) + (nested() ? " nested" : "") +
                      (options.size() == 1 ? " option: " : " options: ");
      for (std::size_t i = 0; i < options.size() && i < kShown; ++i) {
        const ChoiceOption& o = options[i];
        s += (i ? ", " : "") + brief(o.value, 40);
        if (o.nested) {
          const std::size_t n = o.children.size();
          s += n == 0 ? " (no parameters)"
                      : " (" + std::to_string(n) + (n == 1 ? " parameter)" : " parameters)");
        }
      }
      if (options.size() > kShown)
        s += ", ... (" + std::to_string(options.size() - kShown) + " more)";
      return s;
    }
    case SpaceType::kRandint:
      return "integers in [" + arg(0) + ", " + arg(1) + ") (" +
             count_words(cardinality(), "values") + ")";
    case SpaceType::kUniform:
      return "[" + arg(0) + ", " + arg(1) + "]";
    case SpaceType::kQuniform:
      return "[" + arg(0) + ", " + arg(1) + "], q = " + arg(2) + " (" +
             count_words(cardinality(), "values") + ")";
    case SpaceType::kLoguniform:
      return "[" + arg(0) + ", " + arg(1) + "], log scale";
    case SpaceType::kQloguniform:
      return "[" + arg(0) + ", " + arg(1) + "], log scale, q = " + arg(2) + " (" +
             count_words(cardinality(), "values") + ")";
    case SpaceType::kNormal:
      return "mu = " + arg(0) + ", sigma = " + arg(1);
    case SpaceType::kQnormal:
      return "mu = " + arg(0) + ", sigma = " + arg(1) + ", q = " + arg(2);
    case SpaceType::kLognormal:
      return "exp(N(mu = " + arg(0) + ", sigma = " + arg(1) + "))";
    case SpaceType::kQlognormal:
      return "exp(N(mu = " + arg(0) + ", sigma = " + arg(1) + ")), q = " + arg(2);
  }
  return "";
}

std::string SearchSpace::summary() const {
  std::size_t label_width = 0;
  for (const Dimension& d : dims_) label_width = std::max(label_width, d.label.size());
  constexpr std::size_t kTypeWidth = 11;  // "qloguniform"
  std::string out;
  for (const Dimension& d : dims_) {
    std::string line = d.label;
    line.resize(label_width + 2, ' ');
    std::string type = to_string(d.type);
    type.resize(kTypeWidth + 2, ' ');
    out += line + type + d.describe() + "\n";
  }
  return out;
}

}  // namespace nnilib
