// Search space: parsing, validation errors, files, summary.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "nnilib/common/error.h"
#include "nnilib/space/space.h"
#include "test_util.h"

using nnilib::ParamError;
using nnilib::SearchSpace;
using nnilib::SpaceType;
using ojson = nlohmann::ordered_json;

namespace {

SearchSpace parse(const std::string& text) { return SearchSpace::parse(ojson::parse(text)); }

/// The message of the ParamError that parsing `text` throws ("" when none).
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ParamError& e) {
    CHECK(e.code() == nnilib::ExitCode::kParams);
    return e.what();
  }
  return "";
}

std::filesystem::path temp_file(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::path(testutil::temp_dir()) / name;
  std::ofstream(path) << content;
  return path;
}

std::string load_error(const std::string& path) {
  try {
    SearchSpace::load(path);
  } catch (const ParamError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("space: every type parses with its arguments") {
  const SearchSpace s = parse(R"({
    "c":  {"_type": "choice",      "_value": [32, 0.5, "relu", true]},
    "ri": {"_type": "randint",     "_value": [-3, 7]},
    "u":  {"_type": "uniform",     "_value": [0.1, 0.5]},
    "qu": {"_type": "quniform",    "_value": [1, 10, 3]},
    "lu": {"_type": "loguniform",  "_value": [0.0001, 0.1]},
    "ql": {"_type": "qloguniform", "_value": [1, 64, 1]},
    "n":  {"_type": "normal",      "_value": [0.5, 2]},
    "qn": {"_type": "qnormal",     "_value": [0, 1, 0.25]},
    "ln": {"_type": "lognormal",   "_value": [-1, 0.5]},
    "qln":{"_type": "qlognormal",  "_value": [0, 1, 0.1]}
  })");
  const auto& d = s.dimensions();
  REQUIRE(d.size() == 10);
  REQUIRE(s.roots().size() == 10);
  // File order is kept for ordered_json.
  const std::vector<SpaceType> types = {
      SpaceType::kChoice,     SpaceType::kRandint,     SpaceType::kUniform, SpaceType::kQuniform,
      SpaceType::kLoguniform, SpaceType::kQloguniform, SpaceType::kNormal,  SpaceType::kQnormal,
      SpaceType::kLognormal,  SpaceType::kQlognormal};
  for (std::size_t i = 0; i < d.size(); ++i) {
    CHECK(d[i].type == types[i]);
    CHECK(nnilib::space_type_from_string(nnilib::to_string(types[i])) == types[i]);
    CHECK_FALSE(d[i].parent);
    CHECK(d[i].depth == 0);
    CHECK(d[i].key == std::vector<std::string>{d[i].name});
    CHECK(d[i].label == d[i].name);
  }
  CHECK(d[0].options.size() == 4);
  CHECK(d[0].options[0].value.is_number_integer());
  CHECK(d[0].options[1].value == 0.5);
  CHECK(d[0].options[2].value == "relu");
  CHECK(d[0].options[3].value.is_boolean());
  CHECK_FALSE(d[0].nested());
  CHECK(d[1].lower == -3);
  CHECK(d[1].upper == 7);
  CHECK(d[2].low == 0.1);
  CHECK(d[2].high == 0.5);
  CHECK(d[2].q == 0);
  CHECK(d[3].q == 3);
  CHECK(d[3].quantized());
  CHECK(d[4].log_scale());
  CHECK_FALSE(d[4].normal_distributed());
  CHECK(d[5].low == 1);
  CHECK(d[5].high == 64);
  CHECK(d[6].mu == 0.5);
  CHECK(d[6].sigma == 2);
  CHECK(d[7].q == 0.25);
  CHECK(d[8].log_scale());
  CHECK(d[8].normal_distributed());
  CHECK(d[9].q == 0.1);
  // Finite types and their value counts.
  CHECK(d[0].cardinality() == 4);
  CHECK(d[1].cardinality() == 10);
  CHECK(d[3].cardinality() == 4);  // 1, 3, 6, 9
  CHECK(d[5].cardinality() == 64);
  for (std::size_t i : {2, 4, 6, 7, 8, 9}) {
    CHECK_FALSE(d[i].finite());
    CHECK(d[i].cardinality() == 0);
  }
  CHECK(s.find("qln") == std::size_t{9});
  CHECK_FALSE(s.find("nope"));
  CHECK(nnilib::space_type_from_string("choise") == std::nullopt);
}

TEST_CASE("space: key order is the file's for ordered_json and sorted for json") {
  const std::string text = R"({"zeta": {"_type": "choice", "_value": [1]},
                               "alpha": {"_type": "choice", "_value": [2]}})";
  CHECK(SearchSpace::parse(ojson::parse(text)).dimensions()[0].name == "zeta");
  CHECK(SearchSpace::parse(nlohmann::json::parse(text)).dimensions()[0].name == "alpha");
  const auto path = temp_file("order.json", text);
  CHECK(SearchSpace::load(path.string()).dimensions()[0].name == "zeta");
}

TEST_CASE("space: integral float bounds of randint are accepted and the empty space is valid") {
  const SearchSpace s = parse(R"({"r": {"_type": "randint", "_value": [1.0, 1e3]}})");
  CHECK(s.dimensions()[0].lower == 1);
  CHECK(s.dimensions()[0].upper == 1000);
  const SearchSpace empty = parse("{}");
  CHECK(empty.dimensions().empty());
}

TEST_CASE("space: nested choices build the conditional structure") {
  const SearchSpace s = parse(R"({
    "lr": {"_type": "loguniform", "_value": [0.001, 0.1]},
    "block": {"_type": "choice", "_value": [
      {"_name": "resnet", "conv": {"_type": "randint", "_value": [1, 5]},
                          "inner": {"_type": "choice", "_value": [
                             {"_name": "x", "k": {"_type": "choice", "_value": [3, 5]}},
                             {"_name": "y"}]}},
      {"_name": "plain"}
    ]}
  })");
  const auto& d = s.dimensions();
  // Depth first: lr, block, conv, inner, k.
  REQUIRE(d.size() == 5);
  CHECK(s.roots() == std::vector<std::size_t>{0, 1});
  CHECK(d[1].nested());
  CHECK(d[1].options[0].value == "resnet");
  CHECK(d[1].options[0].children == std::vector<std::size_t>{2, 3});
  CHECK(d[1].options[1].children.empty());
  CHECK(d[2].label == "block[resnet]/conv");
  CHECK(d[2].key == std::vector<std::string>{"block", "conv"});
  CHECK(d[2].parent == std::size_t{1});
  CHECK(d[2].parent_option == 0);
  CHECK(d[2].depth == 1);
  CHECK(d[4].label == "block[resnet]/inner[x]/k");
  CHECK(d[4].key == std::vector<std::string>{"block", "inner", "k"});
  CHECK(d[4].parent == std::size_t{3});
  CHECK(d[4].depth == 2);
  CHECK(s.find("block[resnet]/inner[x]/k") == std::size_t{4});
}

TEST_CASE("space: invalid spaces name the path and the rule") {
  struct Case {
    const char* text;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {R"([1, 2])", {"search space: the top level must be a JSON object", "got an array"}},
      {R"(3)", {"the top level must be a JSON object", "got a number"}},
      {R"({"lr": 0.1})", {R"(search space "lr": a parameter must be an object)", "got 0.1"}},
      {R"({"lr": {"_value": [0, 1]}})", {R"(search space "lr": missing "_type")"}},
      {R"({"lr": {"_type": "uniform"}})", {R"(search space "lr": missing "_value")"}},
      {R"({"lr": {"_type": 3, "_value": [0, 1]}})",
       {R"(search space "lr": "_type" must be a string (got 3))"}},
      {R"({"block": {"_type": "choice", "_value": [
          {"_name": "resnet", "conv": {"_type": "choise", "_value": [1]}}]}})",
       {R"(search space "block[resnet]/conv": unknown _type "choise" (expected one of choice, )"
        "randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal, "
        "qlognormal)"}},
      {R"({"lr": {"_type": "uniform", "_value": [0, 1], "_values": [1]}})",
       {R"(search space "lr": unexpected key "_values")"}},
      {R"({"x": {"_type": "choice", "_value": 5}})",
       {R"(search space "x": "_value" of choice must be an array (got 5))"}},
      {R"({"x": {"_type": "choice", "_value": []}})",
       {R"(search space "x": choice needs a non-empty array of options (got []))"}},
      {R"({"x": {"_type": "choice", "_value": [1, null]}})",
       {R"(search space "x": choice option 1 is null)"}},
      {R"({"x": {"_type": "choice", "_value": [[1, 2], 3]}})",
       {R"(search space "x": choice option 0 is an array)"}},
      {R"({"x": {"_type": "choice", "_value": [{"_name": "a"}, {"conv": 1}]}})",
       {R"(search space "x": choice option 1 is an object without "_name")"}},
      {R"({"x": {"_type": "choice", "_value": [{"_name": 7}]}})",
       {R"(search space "x": choice option 0: "_name" must be a non-empty string (got 7))"}},
      {R"({"x": {"_type": "choice", "_value": [{"_name": "a"}, {"_name": "b"}, {"_name": "a"}]}})",
       {R"(search space "x": choice options 0 and 2 have the same _name "a")"}},
      {R"({"x": {"_type": "choice", "_value": [{"_name": "a"}, 3]}})",
       {R"(search space "x": choice mixes nested options)"}},
      {R"({"n": {"_type": "randint", "_value": [10]}})",
       {R"(search space "n": randint needs [lower, upper] (got [10]))"}},
      {R"({"n": {"_type": "randint", "_value": [1.5, 3]}})",
       {R"(search space "n": randint needs integer bounds (got [1.5, 3]))"}},
      {R"({"n": {"_type": "randint", "_value": [5, 5]}})",
       {R"(search space "n": randint needs lower < upper (got [5, 5]))"}},
      {R"({"n": {"_type": "randint", "_value": [0, 18446744073709551615]}})",
       {R"(search space "n": randint bounds must lie within +-2^53)"}},
      {R"({"u": {"_type": "uniform", "_value": ["a", 1]}})",
       {R"(search space "u": uniform needs numbers in "_value" (got ["a", 1]))"}},
      {R"({"u": {"_type": "uniform", "_value": [0, true]}})",
       {R"(search space "u": uniform needs numbers in "_value" (got [0, true]))"}},
      {R"({"u": {"_type": "uniform", "_value": [1, 0]}})",
       {R"(search space "u": uniform needs low < high (got [1, 0]))"}},
      {R"({"u": {"_type": "uniform", "_value": [1, 1]}})",
       {R"(search space "u": uniform needs low < high (got [1, 1]))"}},
      {R"({"u": {"_type": "uniform", "_value": [0, 1, 2]}})",
       {R"(search space "u": uniform needs [low, high] (got [0, 1, 2]))"}},
      {R"({"q": {"_type": "quniform", "_value": [0, 1]}})",
       {R"(search space "q": quniform needs [low, high, q] (got [0, 1]))"}},
      {R"({"q": {"_type": "quniform", "_value": [0, 1, 0]}})",
       {R"(search space "q": quniform needs q > 0 (got [0, 1, 0]))"}},
      {R"({"q": {"_type": "quniform", "_value": [2, 1, 1]}})",
       {R"(search space "q": quniform needs low < high (got [2, 1, 1]))"}},
      {R"({"learning_rate": {"_type": "loguniform", "_value": [0, 0.1]}})",
       {R"(search space "learning_rate": loguniform needs 0 < low < high (got [0, 0.1]))"}},
      {R"({"lr": {"_type": "loguniform", "_value": [0.1, 0.01]}})",
       {R"(search space "lr": loguniform needs 0 < low < high (got [0.1, 0.01]))"}},
      {R"({"lr": {"_type": "qloguniform", "_value": [-1, 10, 1]}})",
       {R"(search space "lr": qloguniform needs 0 < low < high (got [-1, 10, 1]))"}},
      {R"({"lr": {"_type": "qloguniform", "_value": [1, 10, -1]}})",
       {R"(search space "lr": qloguniform needs q > 0 (got [1, 10, -1]))"}},
      {R"({"w": {"_type": "normal", "_value": [0, 0]}})",
       {R"(search space "w": normal needs sigma > 0 (got [0, 0]))"}},
      {R"({"w": {"_type": "normal", "_value": [0, 1, 2]}})",
       {R"(search space "w": normal needs [mu, sigma] (got [0, 1, 2]))"}},
      {R"({"w": {"_type": "qnormal", "_value": [0, 1, -0.5]}})",
       {R"(search space "w": qnormal needs q > 0 (got [0, 1, -0.5]))"}},
      {R"({"w": {"_type": "lognormal", "_value": [0, -1]}})",
       {R"(search space "w": lognormal needs sigma > 0 (got [0, -1]))"}},
      {R"({"w": {"_type": "qlognormal", "_value": [0, 1]}})",
       {R"(search space "w": qlognormal needs [mu, sigma, q] (got [0, 1]))"}},
      {R"({"": {"_type": "uniform", "_value": [0, 1]}})",
       {R"(search space "": a parameter name must not be empty)"}},
      {R"({"b": {"_type": "choice", "_value": [{"_name": "x", "lr": 0.1}]}})",
       {R"(search space "b[x]/lr": a parameter must be an object)", "got 0.1"}},
      {R"({"a": {"_type": "choice", "_value": [{"_name": "x", "b": {"_type": "choice",
          "_value": [{"_name": "y", "c": {"_type": "normal", "_value": [0, 0]}}]}}]}})",
       {R"(search space "a[x]/b[y]/c": normal needs sigma > 0)"}},
      {R"({"ok": {"_type": "uniform", "_value": [0, 1]},
           "bad": {"_type": "choice", "_value": [{"_name": "p"}, {"_name": ""}]}})",
       {R"(search space "bad": choice option 1: "_name" must be a non-empty string (got ""))"}},
  };
  REQUIRE(cases.size() >= 25);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    DYNAMIC_SECTION("invalid space " << i << ": " << cases[i].text) {
      const std::string message = error_of(cases[i].text);
      INFO("message: " << message);
      REQUIRE_FALSE(message.empty());
      CHECK(message.find('\n') == std::string::npos);
      for (const auto& f : cases[i].fragments) CHECK(message.find(f) != std::string::npos);
    }
  }
}

TEST_CASE("space: non-finite numbers built in code are rejected") {
  nlohmann::json j;
  j["u"] = {{"_type", "uniform"}, {"_value", {0.0, std::numeric_limits<double>::infinity()}}};
  try {
    SearchSpace::parse(j);
    FAIL("no error");
  } catch (const ParamError& e) {
    CHECK(std::string(e.what()).find(R"(search space "u": uniform needs finite numbers)") !=
          std::string::npos);
  }
}

TEST_CASE("space: a long _value is cut in the message which stays one line") {
  std::string options;
  for (int i = 0; i < 500; ++i) options += std::to_string(i) + ", ";
  const std::string message =
      error_of(R"({"x": {"_type": "uniform", "_value": [)" + options + "1]}}");
  CHECK(message.find(R"(search space "x": uniform needs [low, high] (got [0, 1, 2)") !=
        std::string::npos);
  CHECK(message.size() < 250);
  CHECK(message.find("...") != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("space: loading files reports the file and the problem") {
  SECTION("missing file") {
    const std::string m = load_error("/nonexistent/dir/space.json");
    CHECK(m.find(R"(search space file "/nonexistent/dir/space.json": cannot open)") !=
          std::string::npos);
    CHECK(m.find("No such file") != std::string::npos);
  }
  SECTION("a directory") {
    const auto dir = std::filesystem::temp_directory_path();
    CHECK(load_error(dir.string()).find("is a directory") != std::string::npos);
  }
  SECTION("not JSON: line and column") {
    const auto path =
        temp_file("bad.json", "{\n  \"lr\": {\"_type\": \"uniform\",\n  \"_value\": [0, 1,]}\n}\n");
    const std::string m = load_error(path.string());
    CHECK(m.find("search space file \"" + path.string() +
                 "\": not valid JSON: parse error at line 3, column") != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
  }
  SECTION("empty file") {
    const auto path = temp_file("empty.json", "");
    CHECK(load_error(path.string()).find("not valid JSON") != std::string::npos);
  }
  SECTION("duplicate keys") {
    const auto path = temp_file("dup.json", R"({"lr": {"_type": "uniform", "_value": [0, 1]},
                                               "lr": {"_type": "uniform", "_value": [0, 2]}})");
    CHECK(load_error(path.string()).find(R"(duplicate key "lr" at the top level)") !=
          std::string::npos);
    const auto nested = temp_file("dup2.json", R"({"b": {"_type": "choice", "_value": [
        {"_name": "x", "k": {"_type": "randint", "_value": [0, 2]},
                       "k": {"_type": "randint", "_value": [0, 3]}}]}})");
    CHECK(load_error(nested.string()).find(R"(duplicate key "k" inside "b/_value")") !=
          std::string::npos);
  }
  SECTION("an invalid space names the file and the path") {
    const auto path =
        temp_file("inv.json", R"({"learning_rate": {"_type": "loguniform", "_value": [0, 0.1]}})");
    CHECK(load_error(path.string()) ==
          path.string() +
              R"(: search space "learning_rate": loguniform needs 0 < low < high (got [0, 0.1]))");
  }
  SECTION("a number beyond double range is a clear error, not an internal one") {
    const auto path = temp_file("overflow.json",
                                R"({"learning_rate": {"_type": "uniform", "_value": [0, 1e309]}})");
    CHECK(load_error(path.string()) ==
          "search space file \"" + path.string() +
              "\": holds a number beyond the range of a double (such as 1e309)");
  }
  SECTION("a valid file") {
    const auto path =
        temp_file("ok.json", R"({"nb_units": {"_type": "choice", "_value": [80, 100, 120]}})");
    CHECK(SearchSpace::load(path.string()).dimensions().size() == 1);
  }
}

TEST_CASE("space: summary has one line per dimension with its values or bounds") {
  const SearchSpace s = parse(R"({
    "filter_size_c1": {"_type": "choice", "_value": [32, 64, 128]},
    "learning_rate": {"_type": "loguniform", "_value": [0.0001, 0.1]},
    "n": {"_type": "randint", "_value": [1, 10]},
    "q": {"_type": "quniform", "_value": [1, 10, 3]},
    "w": {"_type": "qlognormal", "_value": [0, 1, 0.5]},
    "block": {"_type": "choice", "_value": [{"_name": "resnet", "conv": {"_type": "normal", "_value": [0, 1]}},
                                           {"_name": "plain"}]}
  })");
  const std::string text = s.summary();
  std::vector<std::string> lines;
  for (std::size_t start = 0, end; start < text.size(); start = end + 1) {
    end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
  }
  REQUIRE(lines.size() == s.dimensions().size());
  CHECK(lines[0] == "filter_size_c1      choice       3 options: 32, 64, 128");
  CHECK(lines[1] == "learning_rate       loguniform   [0.0001, 0.1], log scale");
  CHECK(lines[2] == "n                   randint      integers in [1, 10) (9 values)");
  CHECK(lines[3] == "q                   quniform     [1, 10], q = 3 (4 values)");
  CHECK(lines[4] == "w                   qlognormal   exp(N(mu = 0, sigma = 1)), q = 0.5");
  CHECK(
      lines[5] ==
      R"(block               choice       2 nested options: "resnet" (1 parameter), "plain" (no parameters))");
  CHECK(lines[6] == "block[resnet]/conv  normal       mu = 0, sigma = 1");
}

TEST_CASE("space: hostile nesting is refused before it costs memory or stack") {
  // 1,000 nested choices (a few hundred KB): refused at level 17, in linear time.
  std::string text = R"({"x": {"_type": "choice", "_value": [1, 2]}})";
  for (int i = 0; i < 1000; ++i) {
    text = R"({"c": {"_type": "choice", "_value": [{"_name": "o)" + std::to_string(i) + R"(", )" +
           text.substr(1) + "]}}";
  }
  const auto nested = temp_file("nested_choice.json", text);
  // The file is nested about 3,000 JSON levels: the text check comes first.
  CHECK_THAT(load_error(nested.string()), Catch::Contains("nested deeper than 64 levels"));
  // Parsed from JSON directly (no text): the choice-depth bound names the parameter.
  std::string shallow = R"({"x": {"_type": "choice", "_value": [1, 2]}})";
  for (int i = 0; i < 20; ++i) {
    shallow = R"({"c": {"_type": "choice", "_value": [{"_name": "o", )" + shallow.substr(1) + "]}}";
  }
  try {
    SearchSpace::parse(nlohmann::json::parse(shallow));
    FAIL("a space with 20 nested choices was accepted");
  } catch (const ParamError& e) {
    CHECK_THAT(e.what(), Catch::Contains("nested choices go deeper than 16 levels"));
  }
  // A million nested arrays: one line, no crash.
  const auto arrays =
      temp_file("arrays.json", std::string(1000000, '[') + std::string(1000000, ']'));
  CHECK_THAT(load_error(arrays.string()), Catch::Contains("nested deeper than 64 levels"));
  // In a file of many lines, the message says where: the 65th level opens on line 3,
  // after `  "y": ` and 63 more brackets.
  const auto deep_y = temp_file("deep_y.json",
                                "{\n  \"x\": {\"_type\": \"choice\", \"_value\": [1]},\n"
                                "  \"y\": " +
                                    std::string(70, '[') + std::string(70, ']') + "\n}\n");
  CHECK_THAT(load_error(deep_y.string()),
             Catch::EndsWith("nested deeper than 64 levels (arrays/objects) at line 3, column 71"));
}
