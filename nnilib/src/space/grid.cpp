// Search space: grid size and random access to grid points.
#include <limits>

#include "nnilib/space/space.h"
#include "space/space_detail.h"

namespace nnilib {

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) { return a > kMax - b ? kMax : a + b; }
std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b) {
  return (b != 0 && a > kMax / b) ? kMax : a * b;
}

/// Grid sizes of every dimension's subtree and of sub-spaces; kMax means
/// saturated, and `infinite` names the first continuous dimension met.
struct Counter {
  const std::vector<Dimension>& dims;
  std::optional<std::size_t> infinite;

  std::uint64_t space(const std::vector<std::size_t>& list) {
    std::uint64_t n = 1;
    for (std::size_t i : list) n = sat_mul(n, dim(i));
    return n;
  }
  std::uint64_t dim(std::size_t i) {
    const Dimension& d = dims[i];
    if (!d.finite()) {
      if (!infinite) infinite = i;
      return 1;
    }
    if (!d.nested()) return d.cardinality();
    std::uint64_t n = 0;
    for (const ChoiceOption& o : d.options) n = sat_add(n, space(o.children));
    return n;
  }
};

}  // namespace

std::string GridSize::to_string() const {
  if (!finite) return "infinite";
  if (saturated) return "more than " + std::to_string(kMax);
  return std::to_string(count);
}

GridSize SearchSpace::grid_size() const {
  Counter counter{dims_, std::nullopt};
  GridSize size;
  size.count = counter.space(roots_);
  size.finite = !counter.infinite;
  size.saturated = size.finite && size.count == kMax;
  if (!size.finite) size.count = 0;
  return size;
}

Point SearchSpace::grid_point(std::uint64_t index) const {
  Counter counter{dims_, std::nullopt};
  const std::uint64_t total = counter.space(roots_);
  if (counter.infinite) {
    const Dimension& d = dims_[*counter.infinite];
    space_detail::fail(d.label, std::string(to_string(d.type)) +
                                    " is not finite, so the search space has no grid");
  }
  if (total == kMax)
    throw ParamError("search space: the grid has more than " + std::to_string(kMax) +
                     " points, too many to index");
  if (index >= total)
    throw ParamError("search space: grid point " + std::to_string(index) + " out of range (" +
                     std::to_string(total) + " points)");

  Point point(dims_.size());
  // Mixed radix over a (sub-)space: the last dimension varies fastest.
  auto decode = [&](auto& self, const std::vector<std::size_t>& list, std::uint64_t i) -> void {
    for (std::size_t j = list.size(); j-- > 0;) {
      const std::size_t dim = list[j];
      const Dimension& d = dims_[dim];
      const std::uint64_t n = counter.dim(dim);
      std::uint64_t sub = i % n;
      i /= n;
      if (!d.nested()) {
        point[dim] = d.grid_slot(sub);
        continue;
      }
      for (std::size_t k = 0; k < d.options.size(); ++k) {
        const std::uint64_t c = counter.space(d.options[k].children);
        if (sub < c) {
          point[dim] = static_cast<double>(k);
          self(self, d.options[k].children, sub);
          break;
        }
        sub -= c;
      }
    }
  };
  decode(decode, roots_, index);
  return point;
}

}  // namespace nnilib
