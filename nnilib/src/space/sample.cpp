// Search space: sampling points and converting them to and from NNI's parameter shape.
#include <cmath>

#include "nnilib/space/space.h"
#include "space/space_detail.h"

namespace nnilib {

using space_detail::brief;
using space_detail::quote;

namespace {

[[noreturn]] void bad_parameter(const std::string& label, const std::string& rule) {
  throw ParamError("parameters " + quote(label) + ": " + rule);
}

void check_size(const Point& point, std::size_t dims) {
  if (point.size() != dims)
    throw ParamError("search space point has " + std::to_string(point.size()) +
                     " slots, the space has " + std::to_string(dims) + " dimensions");
}

}  // namespace

std::optional<std::size_t> SearchSpace::find(std::string_view label) const {
  for (std::size_t i = 0; i < dims_.size(); ++i)
    if (dims_[i].label == label) return i;
  return std::nullopt;
}

bool SearchSpace::active(std::size_t dim, const Point& point) const {
  for (std::size_t d = dim; d < dims_.size() && dims_[d].parent;) {
    const std::size_t p = *dims_[d].parent;
    if (p >= point.size() || !point[p] || *point[p] != static_cast<double>(dims_[d].parent_option))
      return false;
    d = p;
  }
  return dim < dims_.size();
}

Point SearchSpace::sample_point(SpaceRng& rng) const {
  Point point(dims_.size());
  for (std::size_t r : roots_) sample_into(r, rng, point);
  return point;
}

void SearchSpace::sample_into(std::size_t dim, SpaceRng& rng, Point& point) const {
  check_size(point, dims_.size());
  const Dimension& d = dims_.at(dim);
  const double slot = d.sample(rng);
  point[dim] = slot;
  if (!d.nested()) return;
  // Clear every option's sub-space, then fill the chosen one's.
  std::vector<std::size_t> stack;
  for (const ChoiceOption& o : d.options)
    stack.insert(stack.end(), o.children.begin(), o.children.end());
  while (!stack.empty()) {
    const std::size_t c = stack.back();
    stack.pop_back();
    point[c].reset();
    for (const ChoiceOption& o : dims_[c].options)
      stack.insert(stack.end(), o.children.begin(), o.children.end());
  }
  for (std::size_t c : d.options[static_cast<std::size_t>(slot)].children)
    sample_into(c, rng, point);
}

nlohmann::json SearchSpace::to_parameters(const Point& point) const {
  check_size(point, dims_.size());
  // Emits dimension `dim` (and, for a nested choice, its chosen sub-space) into `out`.
  auto emit = [&](auto& self, std::size_t dim, nlohmann::json& out) -> void {
    const Dimension& d = dims_[dim];
    if (!point[dim]) bad_parameter(d.label, "no value for an active dimension");
    nlohmann::json value = d.to_json(*point[dim]);
    if (d.nested())
      for (std::size_t c : d.options[static_cast<std::size_t>(*point[dim])].children)
        self(self, c, value);
    out[d.name] = std::move(value);
  };
  nlohmann::json out = nlohmann::json::object();
  for (std::size_t r : roots_) emit(emit, r, out);
  return out;
}

Point SearchSpace::from_parameters(const nlohmann::json& parameters) const {
  if (!parameters.is_object())
    throw ParamError("parameters: must be a JSON object (got " + brief(parameters) + ")");
  Point point(dims_.size());

  // Reads the dimensions `dims` (one (sub-)space) from `obj`.
  auto read = [&](auto& self, const nlohmann::json& obj, const std::vector<std::size_t>& dims,
                  const std::string& prefix, bool nested) -> void {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (nested && it.key() == "_name") continue;
      bool known = false;
      for (std::size_t i : dims) known = known || dims_[i].name == it.key();
      if (!known) bad_parameter(prefix + it.key(), "not a parameter of the search space");
    }
    for (std::size_t i : dims) {
      const Dimension& d = dims_[i];
      if (!obj.contains(d.name)) bad_parameter(d.label, "missing");
      const nlohmann::json& v = obj[d.name];
      if (d.categorical()) {
        std::optional<std::size_t> found;
        for (std::size_t k = 0; k < d.options.size() && !found; ++k) {
          const ChoiceOption& o = d.options[k];
          if (o.nested ? (v.is_object() && v.contains("_name") && v["_name"] == o.value)
                       : v == o.value)
            found = k;
        }
        if (!found)
          bad_parameter(d.label, brief(v) + " is not one of the options " + brief(d.spec_value));
        point[i] = static_cast<double>(*found);
        if (d.nested())
          self(self, v, d.options[*found].children,
               d.label + "[" + d.options[*found].value.get<std::string>() + "]/", true);
        continue;
      }
      if (!v.is_number()) bad_parameter(d.label, "must be a number (got " + brief(v) + ")");
      const double x = v.get<double>();
      if (d.type == SpaceType::kRandint && x != std::floor(x))
        bad_parameter(d.label, "randint value must be an integer (got " + brief(v) + ")");
      d.to_json(x);  // range checks
      point[i] = x;
    }
  };
  read(read, parameters, roots_, "", false);
  return point;
}

}  // namespace nnilib
