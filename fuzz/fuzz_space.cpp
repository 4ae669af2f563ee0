// fuzz_space: the search-space language (nnilib/space.h). The input is the text of
// a search_space.json; SearchSpace::load() parses and validates it (as fmnist-nas
// and fmnist-trial --check-space/--sample do). A space that loads is then described,
// sampled, walked on its grid and round-tripped through from_parameters().
// Documented failure: ParamError. Anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "nnilib/common/error.h"
#include "nnilib/space/space.h"

namespace {

// The parameters of a point, and back: both directions are documented to agree.
void round_trip(const nnilib::SearchSpace& space, const nnilib::Point& point) {
  const nlohmann::json params = space.to_parameters(point);
  (void)params.dump();
  try {
    (void)space.from_parameters(params);
  } catch (const nnilib::ParamError&) {
    // from_parameters may refuse a value that lost precision on the way; not a crash.
  }
}

void exercise(const nnilib::SearchSpace& space) {
  (void)space.summary();
  for (const nnilib::Dimension& d : space.dimensions()) {
    (void)d.describe();
    (void)d.cardinality();
    (void)space.find(d.label);
  }

  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    nnilib::SpaceRng rng(seed);
    nnilib::Point point = space.sample_point(rng);
    round_trip(space, point);
    for (std::size_t dim = 0; dim < space.dimensions().size() && dim < 8; ++dim)
      space.sample_into(dim, rng, point);
    round_trip(space, point);
  }

  const nnilib::GridSize size = space.grid_size();
  (void)size.to_string();
  if (size.finite && !size.saturated && size.count > 0) {
    for (const std::uint64_t index : {std::uint64_t{0}, size.count / 2, size.count - 1})
      round_trip(space, space.grid_point(index));
  }
}

nnilib_fuzz::MemFile& file() {
  static nnilib_fuzz::MemFile f("search_space.json");
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  file().write(data, size);
  nnilib::SearchSpace space;
  try {
    space = nnilib::SearchSpace::load(file().path());
  } catch (const nnilib::ParamError&) {
    return 0;  // refused with a message: the documented outcome for bad input
  }
  try {
    exercise(space);
  } catch (const nnilib::ParamError&) {
    // documented for to_parameters/grid_point on bad points; a loaded space's own
    // samples should not hit it, but this is the documented type
  }
  return 0;
}
