// The tuner registry: the embedded tuners, each entry defined next to its algorithm
// (tpe.cpp, random.cpp, ...), and the tuners a program registers itself.
#include "nnilib/tuner/tuner_registry.h"

#include <algorithm>

#include "nnilib/common/error.h"
#include "nnilib/common/json_text.h"
#include "tuner/tuner_detail.h"

namespace nnilib {

namespace {

struct Registry {
  std::vector<TunerEntry> entries{
      tuner_detail::tpe_entry(),         tuner_detail::random_entry(),
      tuner_detail::grid_search_entry(), tuner_detail::evolution_entry(),
      tuner_detail::hyperband_entry(),   tuner_detail::bohb_entry(),
      tuner_detail::asha_entry()};
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

const std::vector<TunerEntry>& tuner_registry() { return registry().entries; }

void register_tuner(TunerEntry entry) {
  Registry& r = registry();
  if (entry.name.empty()) throw ParamError("register_tuner: a tuner needs a name");
  if (!entry.make) throw ParamError("register_tuner: tuner " + entry.name + " has no factory");
  for (const TunerEntry& e : r.entries)
    if (tuner_detail::lower(e.name) == tuner_detail::lower(entry.name))
      throw ParamError("register_tuner: the name " + entry.name + " is taken by tuner " + e.name);
  r.entries.push_back(std::move(entry));
}

const TunerEntry* find_tuner(const std::string& name) {
  const std::string key = tuner_detail::lower(name);
  for (const TunerEntry& e : tuner_registry())
    if (tuner_detail::lower(e.name) == key) return &e;
  return nullptr;
}

std::vector<std::string> embedded_tuner_names() {
  std::vector<std::string> names;
  for (const TunerEntry& e : tuner_registry()) names.push_back(e.name);
  return names;
}

std::string embedded_tuner_list() { return tuner_detail::join(embedded_tuner_names()); }

std::unique_ptr<Tuner> make_tuner(const std::string& name, const nlohmann::json& class_args,
                                  const SearchSpace& space, std::uint64_t seed) {
  if (const TunerEntry* e = find_tuner(name)) return e->make(class_args, space, seed);
  static const std::vector<std::string> nni_only{
      "anneal",   "smac",      "metis", "gptuner",    "gp",    "pbttuner",
      "pbt",      "dngotuner", "dngo",  "batchtuner", "batch", "networkmorphism",
      "ppotuner", "ppo"};
  const std::string key = tuner_detail::lower(name);
  const bool known = std::find(nni_only.begin(), nni_only.end(), key) != nni_only.end();
  throw ParamError("tuner " + json_quote(name) +
                   (known ? ": an NNI tuner that is not embedded here (run it with nnictl)"
                          : ": unknown tuner") +
                   "; embedded tuners: " + embedded_tuner_list());
}

}  // namespace nnilib
