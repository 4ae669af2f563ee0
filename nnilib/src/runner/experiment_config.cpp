// NNI v2 experiment config (config.yml): YAML -> ExperimentConfig, with NNI's
// field names (case-insensitive, underscores ignored, like NNI), NNI's defaults
// and path rules, and one-line errors naming the file and the field.
#include "nnilib/runner/experiment_config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "nnilib/common/error.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/common/json_text.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/tuner/assessor.h"
#include "nnilib/tuner/tuner.h"
#include "nnilib/tuner/tuner_registry.h"

namespace nnilib {

namespace fs = std::filesystem;

namespace {

constexpr const char* kNnictl = "run this experiment with NNI's nnictl instead";

// NNI matches config keys case-insensitively and ignores underscores.
std::string normalize_key(const std::string& key) {
  std::string out;
  for (char c : key)
    if (c != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

bool plain(const YAML::Node& n) { return n.IsScalar() && n.Tag() == "?"; }

// A plain scalar that is a YAML integer.
std::optional<std::int64_t> as_integer(const YAML::Node& n) {
  if (!plain(n)) return std::nullopt;
  const std::string& s = n.Scalar();
  if (s.empty()) return std::nullopt;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (std::size_t k = i; k < s.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return std::nullopt;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno == ERANGE) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

// A plain scalar that is a finite YAML number (integer or float).
std::optional<double> as_number(const YAML::Node& n) {
  if (!plain(n)) return std::nullopt;
  const std::string& s = n.Scalar();
  if (s.empty() || s.find_first_of("0123456789") == std::string::npos) return std::nullopt;
  if (s.find_first_not_of("0123456789+-.eE") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// A plain scalar that is a boolean (YAML 1.1 spellings, as PyYAML reads them).
std::optional<bool> as_bool(const YAML::Node& n) {
  if (!plain(n)) return std::nullopt;
  static const std::vector<std::string> yes{"true", "True", "TRUE", "yes", "Yes",
                                            "YES",  "on",   "On",   "ON"};
  static const std::vector<std::string> no{"false", "False", "FALSE", "no", "No",
                                           "NO",    "off",   "Off",   "OFF"};
  const std::string& s = n.Scalar();
  if (std::find(yes.begin(), yes.end(), s) != yes.end()) return true;
  if (std::find(no.begin(), no.end(), s) != no.end()) return false;
  return std::nullopt;
}

bool is_null(const YAML::Node& n) { return !n.IsDefined() || n.IsNull(); }

// The node in words for "got ..." (numbers and booleans bare, text quoted).
std::string describe(const YAML::Node& n) {
  if (is_null(n)) return "null";
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (as_number(n) || as_bool(n)) return n.Scalar();
  return json_quote(n.Scalar());
}

template <class Json>
Json yaml_to_json(const YAML::Node& n) {
  if (is_null(n)) return nullptr;
  if (n.IsSequence()) {
    Json out = Json::array();
    for (const YAML::Node& e : n) out.push_back(yaml_to_json<Json>(e));
    return out;
  }
  if (n.IsMap()) {
    Json out = Json::object();
    for (const auto& kv : n) out[kv.first.Scalar()] = yaml_to_json<Json>(kv.second);
    return out;
  }
  if (auto i = as_integer(n)) return *i;
  if (auto d = as_number(n)) return *d;
  if (auto b = as_bool(n)) return *b;
  return n.Scalar();
}

/// One mapping of the config: its entries by normalized key, with the path
/// ("tuner.") that prefixes field names in messages.
class Section {
 public:
  Section(const std::string& file, const std::string& path, const YAML::Node& node)
      : file_(file), path_(path) {
    if (!node.IsMap()) {
      if (path.empty())
        throw ParamError(file + ": must be a YAML mapping of fields, got " + describe(node));
      throw ParamError(file + ": " + path.substr(0, path.size() - 1) + " must be a mapping, got " +
                       describe(node));
    }
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const std::string norm = normalize_key(key);
      if (entries_.count(norm))
        throw ParamError(file + ": " + path + key + " is given twice (as " +
                         json_quote(entries_[norm].first) + " and " + json_quote(key) + ")");
      entries_[norm] = {key, kv.second};
    }
  }

  /// Rejects keys not in `known` (normalized spellings of the accepted camelCase names).
  void check_known(const std::vector<std::string>& known) const {
    for (const auto& [norm, entry] : entries_) {
      bool ok = false;
      for (const std::string& k : known) ok = ok || normalize_key(k) == norm;
      if (ok) continue;
      std::string hint;
      std::size_t best = 3;
      for (const std::string& k : known)
        if (const std::size_t d = edit_distance(normalize_key(k), norm); d < best) {
          best = d;
          hint = "; did you mean " + json_quote(k) + "?";
        }
      throw ParamError(file_ + ": unknown field " + json_quote(path_ + entry.first) + hint +
                       " (NNI rejects unknown fields too)");
    }
  }

  bool has(const std::string& name) const {
    auto it = entries_.find(normalize_key(name));
    return it != entries_.end() && !is_null(it->second.second);
  }
  YAML::Node get(const std::string& name) const {
    auto it = entries_.find(normalize_key(name));
    return it == entries_.end() ? YAML::Node() : it->second.second;
  }
  /// The field's name as the user wrote it, with its section ("tuner.classArgs").
  std::string field(const std::string& name) const {
    auto it = entries_.find(normalize_key(name));
    return path_ + (it == entries_.end() ? name : it->second.first);
  }

  [[noreturn]] void fail(const std::string& name, const std::string& rule) const {
    throw ParamError(file_ + ": " + field(name) + " " + rule + ", got " + describe(get(name)));
  }
  [[noreturn]] void refuse(const std::string& name, const std::string& why) const {
    throw ParamError(file_ + ": " + field(name) + ": " + why +
                     " is not supported by the embedded runner; " + kNnictl);
  }

  std::optional<std::string> string(const std::string& name) const {
    if (!has(name)) return std::nullopt;
    const YAML::Node n = get(name);
    if (!n.IsScalar()) fail(name, "must be a string");
    return n.Scalar();
  }
  std::optional<std::int64_t> positive_integer(const std::string& name) const {
    if (!has(name)) return std::nullopt;
    const auto v = as_integer(get(name));
    if (!v || *v <= 0 || *v > std::numeric_limits<int>::max())
      fail(name, "must be a positive integer");
    return v;
  }
  std::optional<bool> boolean(const std::string& name) const {
    if (!has(name)) return std::nullopt;
    const auto v = as_bool(get(name));
    if (!v) fail(name, "must be true or false");
    return v;
  }
  std::optional<std::int64_t> duration(const std::string& name) const {
    if (!has(name)) return std::nullopt;
    const YAML::Node n = get(name);
    const std::string rule =
        "must be a duration like \"90s\", \"30m\", \"2h\", \"1d\" or a number of seconds > 0";
    if (auto v = as_number(n)) {
      // Bounded as parse_duration() bounds "<n><unit>" (found by fuzz_config: 9e62 s).
      if (!std::isfinite(*v) || *v <= 0 || *v > 9.0e15) fail(name, rule);
      return static_cast<std::int64_t>(std::ceil(*v));
    }
    if (!n.IsScalar()) fail(name, rule);
    try {
      return parse_duration(n.Scalar());
    } catch (const ParamError&) {
      fail(name, rule);
    }
  }

 private:
  std::string file_, path_;
  std::map<std::string, std::pair<std::string, YAML::Node>> entries_;
};

std::string read_file(const std::string& path, const std::string& what) {
  // A directory opens as a stream that reads nothing: "empty" would be a wrong answer.
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw ParamError(what + ": " + json_quote(path) + " is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ParamError(what + ": cannot read " + json_quote(path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Bounds on a YAML document as it would be once its aliases are expanded: a
// 1 KB "billion laughs" file (anchors referring to anchors) must not become
// gigabytes when it is converted or walked. A real config.yml has a few hundred
// nodes and a depth under 10.
constexpr std::uint64_t kMaxYamlNodes = 100000;
constexpr std::size_t kMaxYamlDepth = 64;

// Counts the nodes and depth of a YAML document with every alias expanded, from
// the parser's events (no tree is built), and throws ParamError past the bounds.
class YamlBudget : public YAML::EventHandler {
 public:
  explicit YamlBudget(std::string file) : file_(std::move(file)) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    // Escapes such as "\x85" decode to bytes that are not UTF-8 (found by fuzz_config):
    // every string must be UTF-8 to go into JSON.
    if (const std::size_t bad = invalid_utf8_at(value); bad != std::string::npos) {
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(value[bad]));
      fail(mark, std::string("holds a string that is not valid UTF-8 (byte ") + byte + ")");
    }
    leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return;  // the parser reports unknown aliases itself
    add(mark, it->second.nodes, open_.size() + it->second.depth);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Size {
    std::uint64_t nodes = 1;
    std::size_t depth = 0;  // levels below the node
  };
  struct Open {
    YAML::anchor_t anchor;
    std::uint64_t nodes_before;
    std::size_t deepest;  // the deepest level reached inside, absolute
  };

  void add(const YAML::Mark& mark, std::uint64_t nodes, std::size_t depth) {
    total_ += nodes;
    if (total_ > kMaxYamlNodes)
      fail(mark, "expands to more than " + std::to_string(kMaxYamlNodes) +
                     " nodes (aliases of aliases?)");
    if (depth > kMaxYamlDepth)
      fail(mark, "is nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
    for (Open& o : open_) o.deepest = std::max(o.deepest, depth);
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, 1, open_.size());
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Size{};
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, 1, open_.size());
    open_.push_back({anchor, total_ - 1, open_.size()});
  }
  void close() {
    if (open_.empty()) return;
    const Open o = open_.back();
    open_.pop_back();
    if (o.anchor != YAML::NullAnchor)
      anchors_[o.anchor] = Size{total_ - o.nodes_before, o.deepest - open_.size()};
  }
  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const {
    throw ParamError(file_ + ":" + std::to_string(mark.line + 1) + ":" +
                     std::to_string(mark.column + 1) + ": the YAML document " + what);
  }

  std::string file_;
  std::uint64_t total_ = 0;
  std::vector<Open> open_;
  std::map<YAML::anchor_t, Size> anchors_;
};

YAML::Node load_yaml(const std::string& text, const std::string& file) {
  if (const std::size_t bad = invalid_utf8_at(text); bad != std::string::npos) {
    const auto line =
        1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[bad]));
    throw ParamError(file + ":" + std::to_string(line) + ": not valid UTF-8 (byte " + byte +
                     " at offset " + std::to_string(bad) + ")");
  }
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    YamlBudget budget(file);
    while (parser.HandleNextDocument(budget)) {
    }
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ParamError(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg);
  }
}

}  // namespace

std::int64_t parse_duration(const std::string& text) {
  std::string s;
  for (char c : text) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::vector<std::pair<char, double>> units{
      {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
  for (const auto& [unit, factor] : units) {
    if (s.size() < 2 || s.back() != unit) continue;
    const std::string number = s.substr(0, s.size() - 1);
    char* end = nullptr;
    const double v = std::strtod(number.c_str(), &end);
    const bool numeric = number.find_first_not_of("0123456789.+-e") == std::string::npos &&
                         end == number.c_str() + number.size();
    if (!numeric || !std::isfinite(v) || v <= 0) break;
    const double seconds = std::ceil(v * factor);
    if (seconds > 9.0e15) break;
    return static_cast<std::int64_t>(seconds);
  }
  throw ParamError("bad duration " + json_quote(text) +
                   ": expected a positive number and a unit, one of d, h, m, s (e.g. \"2h\")");
}

ExperimentConfig ExperimentConfig::load(const std::string& path) {
  return parse(read_file(path, path), path);
}

namespace {

// GPUs, as NNI's local training service reads them: trialGpuNumber (the
// trainingService's value wins), and the trainingService's gpuIndices (a list, one
// integer or "0,1"), maxTrialNumberPerGpu and useActiveGpu (required with GPUs, as NNI).
void parse_gpus(const std::string& file, const Section& top, const Section& ts,
                ExperimentConfig& c) {
  for (const Section* s : {&top, &ts}) {
    if (!s->has("trialGpuNumber")) continue;
    const auto gpus = as_integer(s->get("trialGpuNumber"));
    if (!gpus || *gpus < 0 || *gpus > 4096) s->fail("trialGpuNumber", "must be an integer >= 0");
    c.trial_gpu_number = static_cast<int>(*gpus);
  }
  c.max_trial_number_per_gpu =
      static_cast<int>(ts.positive_integer("maxTrialNumberPerGpu").value_or(1));
  const auto use_active = ts.boolean("useActiveGpu");
  c.use_active_gpu = use_active.value_or(false);
  if (ts.has("gpuIndices")) {
    const YAML::Node n = ts.get("gpuIndices");
    const std::string rule = "must be GPU indices: a list of integers >= 0, one, or \"0,1\"";
    auto index = [&](const std::string& text) {
      std::int64_t v = -1;
      const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
      if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v < 0 || v > 4096)
        ts.fail("gpuIndices", rule);
      return static_cast<int>(v);
    };
    if (n.IsSequence()) {
      for (const YAML::Node& e : n) {
        if (!e.IsScalar()) ts.fail("gpuIndices", rule);
        c.gpu_indices.push_back(index(e.Scalar()));
      }
    } else if (n.IsScalar()) {
      std::stringstream parts(n.Scalar());
      std::string part;
      while (std::getline(parts, part, ',')) {
        const auto b = part.find_first_not_of(' ');
        c.gpu_indices.push_back(index(
            b == std::string::npos ? "" : part.substr(b, part.find_last_not_of(' ') - b + 1)));
      }
    } else {
      ts.fail("gpuIndices", rule);
    }
    if (c.gpu_indices.empty()) ts.fail("gpuIndices", rule);
    std::sort(c.gpu_indices.begin(), c.gpu_indices.end());
    c.gpu_indices.erase(std::unique(c.gpu_indices.begin(), c.gpu_indices.end()),
                        c.gpu_indices.end());
  }
  if (c.trial_gpu_number.value_or(0) > 0 && !use_active)
    throw ParamError(file + ": " + ts.field("useActiveGpu") +
                     " is required with trialGpuNumber > 0 (as in NNI): true to share GPUs "
                     "with other programs (a desktop), false to wait for idle ones");
}

// A path of the config: "~/" is $HOME, relative paths are relative to the config's
// directory; "dir/." becomes "dir".
std::string resolve_path(const fs::path& dir, const std::string& p) {
  fs::path out(p);
  if (!p.empty() && p[0] == '~' && (p.size() == 1 || p[1] == '/')) {
    const char* home = std::getenv("HOME");
    out = fs::path(home != nullptr ? home : "") / p.substr(std::min<std::size_t>(2, p.size()));
  }
  if (out.is_relative()) out = dir / out;
  out = out.lexically_normal();
  if (!out.has_filename() && out.has_parent_path() && out != out.root_path())
    out = out.parent_path();  // "dir/." -> "dir", not "dir/"
  return out.string();
}

// The top level's known fields, and NNI's options that the embedded runner refuses.
void check_top_level(const Section& top) {
  top.check_known({"experimentName",
                   "experimentType",
                   "searchSpaceFile",
                   "searchSpace",
                   "trialCommand",
                   "trialCodeDirectory",
                   "trialConcurrency",
                   "trialGpuNumber",
                   "maxExperimentDuration",
                   "maxTrialNumber",
                   "maxTrialDuration",
                   "nniManagerIp",
                   "useAnnotation",
                   "debug",
                   "logLevel",
                   "experimentWorkingDirectory",
                   "tunerGpuIndices",
                   "tuner",
                   "assessor",
                   "advisor",
                   "trainingService",
                   "sharedStorage"});
  if (top.has("sharedStorage")) top.refuse("sharedStorage", "shared storage");
  if (top.has("tunerGpuIndices")) top.refuse("tunerGpuIndices", "a GPU for the tuner");
  if (auto t = top.string("experimentType"); t && *t != "hpo")
    top.refuse("experimentType", "experiment type " + json_quote(*t));
  if (top.boolean("useAnnotation").value_or(false))
    top.refuse("useAnnotation", "NNI annotation (it rewrites Python trial code)");
}

// trainingService: platform local only (a remote platform is explained before its
// unknown fields are), its own fields, GPUs.
Section training_service(const std::string& file, const Section& top, ExperimentConfig& c) {
  if (!top.has("trainingService"))
    throw ParamError(file + ": trainingService is required (trainingService: {platform: local})");
  const YAML::Node ts_node = top.get("trainingService");
  if (ts_node.IsSequence())
    top.refuse("trainingService", "a list of training services (hybrid mode)");
  Section ts(file, top.field("trainingService") + ".", ts_node);
  const auto platform = ts.string("platform");
  if (!platform) throw ParamError(file + ": " + ts.field("platform") + " is required (local)");
  if (*platform != "local")
    throw ParamError(file + ": " + ts.field("platform") + " " + json_quote(*platform) +
                     " is not supported by the embedded runner (it runs trials on this machine "
                     "only: platform local); " +
                     kNnictl);
  ts.check_known({"platform", "trialCommand", "trialCodeDirectory", "trialGpuNumber",
                  "nniManagerIp", "useActiveGpu", "maxTrialNumberPerGpu", "gpuIndices",
                  "reuseMode"});
  if (ts.boolean("reuseMode").value_or(false)) ts.refuse("reuseMode", "reuse mode");
  ts.string("nniManagerIp");  // accepted, local trials reach us directly
  parse_gpus(file, top, ts, c);
  return ts;
}

// The search space: a file (JSON, or YAML by extension) or inline, not both.
void parse_search_space(const std::string& file, const fs::path& dir, const Section& top,
                        ExperimentConfig& c) {
  if (top.has("searchSpaceFile") && top.has("searchSpace"))
    throw ParamError(file + ": give searchSpaceFile or searchSpace, not both");
  if (auto ssf = top.string("searchSpaceFile")) {
    c.search_space_file = resolve_path(dir, *ssf);
    const std::string what = file + ": " + top.field("searchSpaceFile");
    try {
      const std::string ext = fs::path(c.search_space_file).extension().string();
      if (ext == ".yml" || ext == ".yaml") {
        const YAML::Node n = load_yaml(read_file(c.search_space_file, what), c.search_space_file);
        c.search_space_json = yaml_to_json<nlohmann::ordered_json>(n);
        c.search_space = SearchSpace::parse(c.search_space_json);
      } else {
        c.search_space = SearchSpace::load(c.search_space_file);
        // Valid JSON by now (load() checked it): keep it as written.
        c.search_space_json = nlohmann::ordered_json::parse(read_file(c.search_space_file, what));
      }
    } catch (const ParamError& e) {
      const std::string m = e.what();
      throw ParamError(m.rfind(what, 0) == 0 ? m : what + ": " + m);
    }
  } else if (top.has("searchSpace")) {
    const YAML::Node n = top.get("searchSpace");
    if (!n.IsMap()) top.fail("searchSpace", "must be a mapping of parameters");
    try {
      c.search_space_json = yaml_to_json<nlohmann::ordered_json>(n);
      c.search_space = SearchSpace::parse(c.search_space_json);
    } catch (const ParamError& e) {
      throw ParamError(file + ": " + top.field("searchSpace") + ": " + e.what());
    }
  } else {
    throw ParamError(file + ": searchSpaceFile (or an inline searchSpace) is required");
  }
}

// Tuner (or NNI's older `advisor:`) and assessor: name + classArgs, checked by their
// factories; a tuner and an assessor that optimize opposite ways are refused.
void parse_algorithms(const std::string& file, const Section& top, ExperimentConfig& c) {
  auto algorithm = [&](const std::string& key) {
    const Section s(file, top.field(key) + ".", top.get(key));
    s.check_known({"name", "classArgs", "className", "codeDirectory"});
    if (s.has("className") || s.has("codeDirectory"))
      s.refuse(s.has("className") ? "className" : "codeDirectory", "a custom (Python) algorithm");
    AlgorithmConfig a;
    const auto name = s.string("name");
    if (!name) throw ParamError(file + ": " + s.field("name") + " is required");
    a.name = *name;
    if (s.has("classArgs")) {
      const YAML::Node args = s.get("classArgs");
      if (!args.IsMap()) s.fail("classArgs", "must be a mapping");
      a.class_args = yaml_to_json<nlohmann::json>(args);
    }
    return a;
  };
  // NNI's older form puts Hyperband under `advisor:`; it is a tuner to this runner.
  if (top.has("advisor") && (top.has("tuner") || top.has("assessor")))
    throw ParamError(file + ": advisor is set together with " +
                     (top.has("tuner") ? "tuner" : "assessor") +
                     ": give one of them (an advisor replaces the tuner and the assessor)");
  if (!top.has("tuner") && !top.has("advisor"))
    throw ParamError(file + ": tuner is required (embedded tuners: " + embedded_tuner_list() + ")");
  c.tuner = algorithm(top.has("tuner") ? "tuner" : "advisor");
  std::unique_ptr<Tuner> tuner;
  try {
    tuner = make_tuner(c.tuner.name, c.tuner.class_args, c.search_space, 0);
  } catch (const ParamError& e) {
    throw ParamError(file + ": " + e.what());
  }
  if (top.has("assessor")) {
    c.assessor = algorithm("assessor");
    std::unique_ptr<Assessor> assessor;
    try {
      assessor = make_assessor(c.assessor->name, c.assessor->class_args);
    } catch (const ParamError& e) {
      throw ParamError(file + ": " + e.what());
    }
    // A tuner that minimizes what its assessor maximizes searches for the worst trials
    // while the assessor stops the best ones: NNI runs it, this runner refuses it.
    const auto tm = tuner->optimize_mode(), am = assessor->optimize_mode();
    if (tm && am && *tm != *am) {
      const auto word = [](OptimizeMode m) {
        return m == OptimizeMode::kMaximize ? std::string("maximize") : std::string("minimize");
      };
      const bool tuner_default =
          !c.tuner.class_args.is_object() || !c.tuner.class_args.contains("optimize_mode");
      throw ParamError(file + ": tuner " + c.tuner.name + " would " + word(*tm) +
                       (tuner_default ? " (its default)" : "") + " but assessor " +
                       c.assessor->name + " would " + word(*am) +
                       "; give both the same classArgs.optimize_mode");
    }
  }
}

}  // namespace

ExperimentConfig ExperimentConfig::parse(const std::string& yaml, const std::string& path) {
  const std::string& file = path;
  const fs::path dir = fs::absolute(fs::path(path)).parent_path();
  const YAML::Node root = load_yaml(yaml, file);
  if (is_null(root)) throw ParamError(file + ": the config is empty");
  const Section top(file, "", root);
  check_top_level(top);

  ExperimentConfig c;
  c.config_path = path;
  const Section ts = training_service(file, top, c);

  // Training-service fields: the trainingService's own value wins, like NNI.
  const Section& cmd_from = ts.has("trialCommand") ? ts : top;
  const auto command = cmd_from.string("trialCommand");
  if (!command || command->find_first_not_of(" \t\r\n") == std::string::npos)
    throw ParamError(file + ": trialCommand is required (the command that runs one trial)");
  c.trial_command = *command;
  const Section& dir_from = ts.has("trialCodeDirectory") ? ts : top;
  c.trial_code_directory = resolve_path(dir, dir_from.string("trialCodeDirectory").value_or("."));

  c.experiment_name = top.string("experimentName").value_or("");
  c.trial_concurrency = static_cast<int>(top.positive_integer("trialConcurrency").value_or(1));
  c.max_trial_number = top.positive_integer("maxTrialNumber");
  c.max_experiment_duration_s = top.duration("maxExperimentDuration");
  c.max_trial_duration_s = top.duration("maxTrialDuration");
  c.experiment_working_directory =
      resolve_path(dir, top.string("experimentWorkingDirectory").value_or("~/nni-experiments"));
  c.debug = top.boolean("debug").value_or(false);
  if (auto level = top.string("logLevel")) {
    static const std::vector<std::string> levels{"fatal", "error", "warning",
                                                 "info",  "debug", "trace"};
    if (std::find(levels.begin(), levels.end(), *level) == levels.end())
      top.fail("logLevel", "must be one of fatal, error, warning, info, debug, trace");
    c.log_level = *level;
  } else {
    c.log_level = c.debug ? "debug" : "info";
  }

  parse_search_space(file, dir, top, c);
  parse_algorithms(file, top, c);
  return c;
}

nlohmann::ordered_json ExperimentConfig::to_json() const {
  using oj = nlohmann::ordered_json;
  auto optional = [](const std::optional<std::int64_t>& v) { return v ? oj(*v) : oj(nullptr); };
  oj j = oj::object();
  j["configPath"] = config_path;
  j["experimentName"] = experiment_name;
  j["searchSpaceFile"] = search_space_file;
  j["searchSpace"] = search_space_json;
  j["trialCommand"] = trial_command;
  j["trialCodeDirectory"] = trial_code_directory;
  j["trialConcurrency"] = trial_concurrency;
  j["maxTrialNumber"] = optional(max_trial_number);
  j["maxExperimentDuration"] = optional(max_experiment_duration_s);
  j["maxTrialDuration"] = optional(max_trial_duration_s);
  j["trialGpuNumber"] = trial_gpu_number ? oj(*trial_gpu_number) : oj(nullptr);
  j["gpuIndices"] = gpu_indices;
  j["maxTrialNumberPerGpu"] = max_trial_number_per_gpu;
  j["useActiveGpu"] = use_active_gpu;
  j["tuner"] = {{"name", tuner.name}, {"classArgs", tuner.class_args}};
  j["assessor"] =
      assessor ? oj{{"name", assessor->name}, {"classArgs", assessor->class_args}} : oj(nullptr);
  j["experimentWorkingDirectory"] = experiment_working_directory;
  j["logLevel"] = log_level;
  j["debug"] = debug;
  return j;
}

ExperimentConfig ExperimentConfig::from_json(const nlohmann::ordered_json& j,
                                             const std::string& where) {
  using oj = nlohmann::ordered_json;
  if (!j.is_object()) throw ParamError(where + ": the stored config is not a JSON object");
  auto field = [&](const char* name) -> const oj& {
    auto it = j.find(name);
    if (it == j.end()) throw ParamError(where + ": the stored config has no " + name);
    return *it;
  };
  auto text = [&](const char* name) {
    const oj& v = field(name);
    if (!v.is_string()) throw ParamError(where + ": stored " + std::string(name) + " is not text");
    return v.get<std::string>();
  };
  auto optional = [&](const char* name) -> std::optional<std::int64_t> {
    const oj& v = field(name);
    if (v.is_null()) return std::nullopt;
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
      throw ParamError(where + ": stored " + std::string(name) + " is not a positive integer");
    return v.get<std::int64_t>();
  };
  auto algorithm = [&](const oj& v, const char* name) {
    if (!v.is_object() || !v.contains("name") || !v["name"].is_string())
      throw ParamError(where + ": stored " + std::string(name) + " has no name");
    AlgorithmConfig a;
    a.name = v["name"].get<std::string>();
    if (v.contains("classArgs") && !v["classArgs"].is_null()) {
      a.class_args = nlohmann::json::parse(v["classArgs"].dump());
    }
    return a;
  };
  ExperimentConfig c;
  c.config_path = text("configPath");
  c.experiment_name = text("experimentName");
  c.search_space_file = text("searchSpaceFile");
  c.search_space_json = field("searchSpace");
  c.trial_command = text("trialCommand");
  c.trial_code_directory = text("trialCodeDirectory");
  const auto concurrency = optional("trialConcurrency");
  if (!concurrency || *concurrency > std::numeric_limits<int>::max())
    throw ParamError(where + ": stored trialConcurrency is not a positive integer");
  c.trial_concurrency = static_cast<int>(*concurrency);
  c.max_trial_number = optional("maxTrialNumber");
  c.max_experiment_duration_s = optional("maxExperimentDuration");
  c.max_trial_duration_s = optional("maxTrialDuration");
  // GPU fields: absent from experiments stored before the runner scheduled GPUs.
  if (const auto it = j.find("trialGpuNumber"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 4096)
      throw ParamError(where + ": stored trialGpuNumber is not an integer >= 0");
    c.trial_gpu_number = it->get<int>();
  }
  if (const auto it = j.find("gpuIndices"); it != j.end()) {
    if (!it->is_array()) throw ParamError(where + ": stored gpuIndices is not a list");
    for (const oj& g : *it) {
      if (!g.is_number_integer() || g.get<std::int64_t>() < 0 || g.get<std::int64_t>() > 4096)
        throw ParamError(where + ": stored gpuIndices holds something other than GPU indices");
      c.gpu_indices.push_back(g.get<int>());
    }
  }
  if (const auto it = j.find("maxTrialNumberPerGpu"); it != j.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() <= 0 ||
        it->get<std::int64_t>() > std::numeric_limits<int>::max())
      throw ParamError(where + ": stored maxTrialNumberPerGpu is not a positive integer");
    c.max_trial_number_per_gpu = it->get<int>();
  }
  if (const auto it = j.find("useActiveGpu"); it != j.end()) {
    if (!it->is_boolean()) throw ParamError(where + ": stored useActiveGpu is not a boolean");
    c.use_active_gpu = it->get<bool>();
  }
  c.tuner = algorithm(field("tuner"), "tuner");
  if (!field("assessor").is_null()) c.assessor = algorithm(field("assessor"), "assessor");
  c.experiment_working_directory = text("experimentWorkingDirectory");
  c.log_level = text("logLevel");
  if (!field("debug").is_boolean()) throw ParamError(where + ": stored debug is not a boolean");
  c.debug = field("debug").get<bool>();
  try {
    c.search_space = SearchSpace::parse(c.search_space_json);
    make_tuner(c.tuner.name, c.tuner.class_args, c.search_space, 0);
    if (c.assessor) make_assessor(c.assessor->name, c.assessor->class_args);
  } catch (const ParamError& e) {
    throw ParamError(where + ": " + e.what());
  }
  return c;
}

OptimizeMode optimize_mode_of(const ExperimentConfig& config) {
  const auto tuner = make_tuner(config.tuner.name, config.tuner.class_args, config.search_space, 0);
  const auto assessor =
      config.assessor ? make_assessor(config.assessor->name, config.assessor->class_args) : nullptr;
  return ranking_mode(*tuner, assessor.get());
}

nlohmann::json ExperimentLimits::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  if (max_trial_number) j["maxTrialNumber"] = *max_trial_number;
  if (max_experiment_duration_s) j["maxExperimentDuration"] = *max_experiment_duration_s;
  if (trial_concurrency) j["trialConcurrency"] = *trial_concurrency;
  return j;
}

std::string ExperimentLimits::describe() const {
  std::string s;
  auto add = [&s](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  if (max_trial_number) add("maxTrialNumber " + std::to_string(*max_trial_number));
  if (max_experiment_duration_s)
    add("maxExperimentDuration " +
        format_duration(static_cast<double>(*max_experiment_duration_s)));
  if (trial_concurrency) add("trialConcurrency " + std::to_string(*trial_concurrency));
  return s;
}

ExperimentLimits ExperimentLimits::parse(const nlohmann::json& value) {
  if (!value.is_object() || value.empty())
    throw ParamError(
        "limits: expected an object with maxTrialNumber, maxExperimentDuration "
        "or trialConcurrency, got " +
        json_brief(value));
  // A whole number in [low, high], or ParamError naming the field.
  auto whole = [](const nlohmann::json& v, const std::string& name, double low, double high) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) ||
        v.get<double>() != std::floor(v.get<double>()) || v.get<double>() < low ||
        v.get<double>() > high) {
      char range[64];
      std::snprintf(range, sizeof range, "a whole number from %.0f to %.0f", low, high);
      throw ParamError("limits: " + name + " must be " + range + ", got " + json_brief(v));
    }
    return static_cast<std::int64_t>(v.get<double>());
  };
  ExperimentLimits change;
  for (const auto& [key, v] : value.items()) {
    if (key == "maxTrialNumber") {
      change.max_trial_number = whole(v, key, 1, 1e9);
    } else if (key == "maxExperimentDuration") {
      if (v.is_string()) {
        change.max_experiment_duration_s = parse_duration(v.get<std::string>());
        if (*change.max_experiment_duration_s < 1 ||
            *change.max_experiment_duration_s > 10LL * 366 * 86400)
          throw ParamError("limits: maxExperimentDuration " + json_quote(v.get<std::string>()) +
                           " is out of range (1 second to 10 years)");
      } else {
        change.max_experiment_duration_s = whole(v, key, 1, 10.0 * 366 * 86400);
      }
    } else if (key == "trialConcurrency") {
      change.trial_concurrency = static_cast<int>(whole(v, key, 1, 64));
    } else {
      throw ParamError("limits: unknown field " + json_quote(key) +
                       " (maxTrialNumber, maxExperimentDuration, trialConcurrency)");
    }
  }
  return change;
}

void ExperimentConfig::apply(const ExperimentLimits& change) {
  if (change.max_trial_number) max_trial_number = *change.max_trial_number;
  if (change.max_experiment_duration_s)
    max_experiment_duration_s = *change.max_experiment_duration_s;
  if (change.trial_concurrency) trial_concurrency = *change.trial_concurrency;
}

}  // namespace nnilib
