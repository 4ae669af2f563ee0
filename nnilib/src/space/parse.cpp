// Search space: parsing and validation of NNI's search_space.json.
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>

#include "nnilib/common/json_limits.h"
#include "nnilib/space/space.h"
#include "space/space_detail.h"

namespace nnilib {

using space_detail::brief;
using space_detail::fail;
using space_detail::quote;

namespace {

struct TypeName {
  SpaceType type;
  const char* name;
};
constexpr TypeName kTypeNames[] = {
    {SpaceType::kChoice, "choice"},         {SpaceType::kRandint, "randint"},
    {SpaceType::kUniform, "uniform"},       {SpaceType::kQuniform, "quniform"},
    {SpaceType::kLoguniform, "loguniform"}, {SpaceType::kQloguniform, "qloguniform"},
    {SpaceType::kNormal, "normal"},         {SpaceType::kQnormal, "qnormal"},
    {SpaceType::kLognormal, "lognormal"},   {SpaceType::kQlognormal, "qlognormal"},
};

std::string type_list() {
  std::string s;
  for (const auto& t : kTypeNames) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

// Largest integer magnitude a double holds exactly (randint bounds live in Point's doubles).
constexpr double kMaxExactInt = 9007199254740992.0;  // 2^53
constexpr std::uint64_t kMaxExactUnsigned = 9007199254740992ULL;
constexpr std::int64_t kMaxExactSigned = 9007199254740992LL;

/// A JSON value of either flavour as plain nlohmann::json.
template <class J>
nlohmann::json plain(const J& j) {
  if constexpr (std::is_same_v<J, nlohmann::json>) {
    return j;
  } else {
    switch (j.type()) {
      case J::value_t::object: {
        nlohmann::json o = nlohmann::json::object();
        for (auto it = j.begin(); it != j.end(); ++it) o[it.key()] = plain(it.value());
        return o;
      }
      case J::value_t::array: {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& e : j) a.push_back(plain(e));
        return a;
      }
      case J::value_t::string:
        return j.template get<std::string>();
      case J::value_t::boolean:
        return j.template get<bool>();
      case J::value_t::number_integer:
        return j.template get<std::int64_t>();
      case J::value_t::number_unsigned:
        return j.template get<std::uint64_t>();
      case J::value_t::number_float:
        return j.template get<double>();
      default:
        return nullptr;
    }
  }
}

/// What a JSON value is, in words ("an array", "null", ...).
template <class J>
std::string kind(const J& j) {
  if (j.is_null()) return "null";
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  return "a number";
}

}  // namespace

const char* to_string(SpaceType type) {
  for (const auto& t : kTypeNames)
    if (t.type == type) return t.name;
  return "?";
}

std::optional<SpaceType> space_type_from_string(std::string_view name) {
  for (const auto& t : kTypeNames)
    if (name == t.name) return t.type;
  return std::nullopt;
}

/// Builds a SearchSpace from JSON of either flavour, validating as it goes.
class SpaceParser {
 public:
  template <class J>
  static SearchSpace run(const J& top) {
    if (!top.is_object())
      throw ParamError(
          "search space: the top level must be a JSON object {\"<name>\": {\"_type\": "
          "..., \"_value\": [...]}, ...} (got " +
          kind(top) + ")");
    SpaceParser p;
    p.parse_space(top, std::nullopt, 0, "", {}, 0, p.space_.roots_);
    return std::move(p.space_);
  }

 private:
  SearchSpace space_;

  // Parses the parameters of `obj` (skipping "_name" when it is a nested option)
  // and appends their indices to `out`.
  template <class J>
  void parse_space(const J& obj, std::optional<std::size_t> parent, std::size_t option,
                   const std::string& label_prefix, const std::vector<std::string>& key_prefix,
                   std::size_t depth, std::vector<std::size_t>& out) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (parent && it.key() == "_name") continue;
      out.push_back(
          parse_param(it.key(), it.value(), parent, option, label_prefix, key_prefix, depth));
    }
  }

  template <class J>
  std::size_t parse_param(const std::string& name, const J& spec, std::optional<std::size_t> parent,
                          std::size_t option, const std::string& label_prefix,
                          const std::vector<std::string>& key_prefix, std::size_t depth) {
    Dimension d;
    d.name = name;
    d.label = label_prefix + name;
    d.key = key_prefix;
    d.key.push_back(name);
    d.parent = parent;
    d.parent_option = option;
    d.depth = depth;
    const std::string& label = d.label;
    if (depth > kMaxChoiceNesting)
      fail(label, "nested choices go deeper than " + std::to_string(kMaxChoiceNesting) + " levels");

    if (name.empty()) fail(label, "a parameter name must not be empty");
    if (!spec.is_object())
      fail(label, "a parameter must be an object {\"_type\": ..., \"_value\": [...]} (got " +
                      brief(spec) + ")");
    if (!spec.contains("_type")) fail(label, "missing \"_type\"");
    if (!spec.contains("_value")) fail(label, "missing \"_value\"");
    for (auto it = spec.begin(); it != spec.end(); ++it)
      if (it.key() != "_type" && it.key() != "_value")
        fail(label, "unexpected key " + quote(it.key()) +
                        " (a parameter has only \"_type\" and \"_value\")");
    const J& type = spec["_type"];
    if (!type.is_string()) fail(label, "\"_type\" must be a string (got " + brief(type) + ")");
    const std::string type_name = type.template get<std::string>();
    const auto parsed_type = space_type_from_string(type_name);
    if (!parsed_type)
      fail(label, "unknown _type " + quote(type_name) + " (expected one of " + type_list() + ")");
    d.type = *parsed_type;
    const J& value = spec["_value"];
    if (!value.is_array())
      fail(label, "\"_value\" of " + type_name + " must be an array (got " + brief(value) + ")");
    d.spec_value = plain(value);

    if (d.type == SpaceType::kChoice) return parse_choice(std::move(d), value);
    parse_numeric(d, value);
    space_.dims_.push_back(std::move(d));
    return space_.dims_.size() - 1;
  }

  template <class J>
  std::size_t parse_choice(Dimension d, const J& value) {
    const std::string label = d.label;
    if (value.empty()) fail(label, "choice needs a non-empty array of options (got [])");
    std::size_t nested = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const J& o = value[i];
      const std::string which = "choice option " + std::to_string(i);
      if (o.is_object()) {
        if (!o.contains("_name"))
          fail(label, which + " is an object without \"_name\" (a nested option needs one): " +
                          brief(o, 60));
        const J& n = o["_name"];
        if (!n.is_string() || n.template get<std::string>().empty())
          fail(label, which + ": \"_name\" must be a non-empty string (got " + brief(n) + ")");
        ++nested;
      } else if (o.is_null() || o.is_array()) {
        fail(label, which + " is " + kind(o) +
                        "; options are numbers, strings, booleans or objects with \"_name\"");
      }
    }
    if (nested != 0 && nested != value.size())
      fail(label,
           "choice mixes nested options (objects with \"_name\") and plain values; make all of "
           "them objects with \"_name\" or none");
    if (nested) {
      for (std::size_t i = 0; i < value.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
          if (value[i]["_name"] == value[j]["_name"])
            fail(label, "choice options " + std::to_string(j) + " and " + std::to_string(i) +
                            " have the same _name " + brief(value[i]["_name"]));
    }

    const std::size_t index = space_.dims_.size();
    space_.dims_.push_back(d);
    for (std::size_t i = 0; i < value.size(); ++i) {
      ChoiceOption opt;
      opt.nested = nested != 0;
      if (opt.nested) {
        const std::string oname = value[i]["_name"].template get<std::string>();
        opt.value = oname;
        std::vector<std::size_t> children;
        parse_space(value[i], index, i, d.label + "[" + oname + "]/", d.key, d.depth + 1, children);
        opt.children = std::move(children);
      } else {
        opt.value = plain(value[i]);
      }
      space_.dims_[index].options.push_back(std::move(opt));
    }
    return index;
  }

  template <class J>
  void parse_numeric(Dimension& d, const J& value) {
    const std::string& label = d.label;
    const std::string t = to_string(d.type);
    const std::string got = " (got " + brief(value) + ")";
    const bool qtype = t[0] == 'q';
    const bool normal = d.normal_distributed();
    const std::size_t arity = qtype ? 3 : 2;
    if (value.size() != arity) {
      std::string shape = d.type == SpaceType::kRandint ? "[lower, upper]"
                          : normal                      ? "[mu, sigma"
                                                        : "[low, high";
      if (d.type != SpaceType::kRandint) shape += qtype ? ", q]" : "]";
      fail(label, t + " needs " + shape + got);
    }
    std::vector<double> v;
    for (const auto& e : value) {
      if (!e.is_number()) fail(label, t + " needs numbers in \"_value\"" + got);
      v.push_back(e.template get<double>());
      if (!std::isfinite(v.back())) fail(label, t + " needs finite numbers" + got);
    }

    if (d.type == SpaceType::kRandint) {
      for (std::size_t i = 0; i < 2; ++i) {
        const J& e = value[i];
        if (!e.is_number_integer() && v[i] != std::floor(v[i]))
          fail(label, "randint needs integer bounds" + got);
        // Exact check for integers that do not fit a double exactly.
        bool too_big = std::fabs(v[i]) > kMaxExactInt;
        if (e.is_number_unsigned()) {
          too_big = e.template get<std::uint64_t>() > kMaxExactUnsigned;
        } else if (e.is_number_integer()) {
          const auto x = e.template get<std::int64_t>();
          too_big = x > kMaxExactSigned || x < -kMaxExactSigned;
        }
        if (too_big) fail(label, "randint bounds must lie within +-2^53" + got);
      }
      if (!(v[0] < v[1])) fail(label, "randint needs lower < upper" + got);
      d.lower = static_cast<std::int64_t>(v[0]);
      d.upper = static_cast<std::int64_t>(v[1]);
      d.low = v[0];
      d.high = v[1];
      return;
    }
    if (normal) {
      if (!(v[1] > 0)) fail(label, t + " needs sigma > 0" + got);
      d.mu = v[0];
      d.sigma = v[1];
    } else {
      if (d.log_scale()) {
        if (!(0 < v[0] && v[0] < v[1])) fail(label, t + " needs 0 < low < high" + got);
      } else if (!(v[0] < v[1])) {
        fail(label, t + " needs low < high" + got);
      }
      d.low = v[0];
      d.high = v[1];
    }
    if (qtype) {
      if (!(v[2] > 0)) fail(label, t + " needs q > 0" + got);
      d.q = v[2];
    }
  }
};

SearchSpace SearchSpace::parse(const nlohmann::json& space) { return SpaceParser::run(space); }

SearchSpace SearchSpace::parse(const nlohmann::ordered_json& space) {
  return SpaceParser::run(space);
}

SearchSpace SearchSpace::load(const std::string& path) {
  const std::string file = "search space file " + quote(path) + ": ";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ParamError(file + "is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ParamError(file + "cannot open (" + std::strerror(errno) + ")");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ParamError(file + "cannot read (" + std::strerror(errno) + ")");
  if (const std::string deep = json_depth_problem(text.str()); !deep.empty())
    throw ParamError(file + deep);

  // nlohmann keeps the last of duplicate keys silently; find them while parsing.
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string key;  // the key being read in this object
  };
  std::vector<Frame> frames;
  std::string duplicate;
  auto callback = [&](int, nlohmann::ordered_json::parse_event_t event,
                      nlohmann::ordered_json& parsed) {
    using E = nlohmann::ordered_json::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      frames.push_back({event == E::object_start, {}, {}});
    } else if (event == E::object_end || event == E::array_end) {
      if (!frames.empty()) frames.pop_back();
    } else if (event == E::key && !frames.empty() && duplicate.empty()) {
      Frame& f = frames.back();
      f.key = parsed.get<std::string>();
      if (!f.keys.insert(f.key).second) {
        std::string where;
        for (std::size_t i = 0; i + 1 < frames.size(); ++i)
          if (frames[i].object) where += (where.empty() ? "" : "/") + frames[i].key;
        duplicate = "duplicate key " + quote(f.key) +
                    (where.empty() ? " at the top level" : " inside " + quote(where)) +
                    " (JSON keeps only one of them)";
      }
    }
    return true;
  };
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text.str(), callback);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    const auto pos = what.find("] ");
    if (pos != std::string::npos) what = what.substr(pos + 2);
    throw ParamError(file + "not valid JSON: " + what);
  } catch (const nlohmann::json::out_of_range&) {
    throw ParamError(file + "holds a number beyond the range of a double (such as 1e309)");
  }
  if (!duplicate.empty()) throw ParamError(file + duplicate);
  try {
    return parse(j);
  } catch (const ParamError& e) {
    throw ParamError(path + ": " + e.what());
  }
}

}  // namespace nnilib
