// The tuners by name, as config.yml names them: each tuner's source registers its NNI
// name, the classArgs it accepts, a line about it and its factory (Optuna's samplers by
// name, NNI's builtin algorithm table). The runner, the config checker and
// `fmnist-nas --help` read this table; a program adds its own tuners with
// register_tuner() before it builds one (docs/architecture.md, "A new tuner").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/space/space.h"
#include "nnilib/tuner/tuner.h"

namespace nnilib {

/// One tuner of the registry.
struct TunerEntry {
  /// NNI's spelling ("TPE"); config files may write it in any case.
  std::string name;
  /// One line for --help: what it does and whose algorithm it is.
  std::string summary;
  /// Every classArgs key it accepts (an unknown key is an error that lists these).
  std::vector<std::string> class_args;
  /// Builds it from classArgs (a JSON object, or null for none) over `space`; `seed`
  /// seeds its random source unless classArgs has a `seed`. Throws ParamError naming
  /// the tuner and the argument for a bad value.
  std::function<std::unique_ptr<Tuner>(const nlohmann::json& class_args, const SearchSpace& space,
                                       std::uint64_t seed)>
      make;
};

/// Every registered tuner: the embedded ones (NNI's TPE, Random, GridSearch, Evolution,
/// Hyperband, BOHB, and this project's ASHA), then those register_tuner() added.
const std::vector<TunerEntry>& tuner_registry();

/// Adds a tuner; call it at the start of the program (the registry is not locked).
/// Throws ParamError when the name is empty, already taken (case does not
/// count) or the entry has no factory.
void register_tuner(TunerEntry entry);

/// The entry called `name` (case-insensitive), or nullptr.
const TunerEntry* find_tuner(const std::string& name);

/// Builds the tuner called `name` (case-insensitive) with its `classArgs`. Throws
/// ParamError for an unknown name (naming NNI's tuners that only nnictl runs, and listing
/// the registered ones), an unknown classArgs key or an ill-typed value.
std::unique_ptr<Tuner> make_tuner(const std::string& name, const nlohmann::json& class_args,
                                  const SearchSpace& space, std::uint64_t seed);

/// The registered tuners' names, in registry order.
std::vector<std::string> embedded_tuner_names();
/// The same as one line: "TPE, Random, GridSearch, ...".
std::string embedded_tuner_list();

}  // namespace nnilib
