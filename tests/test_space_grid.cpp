// Search space: grid enumeration and grid size.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "nnilib/common/error.h"
#include "nnilib/space/space.h"

using nnilib::ParamError;
using nnilib::SearchSpace;
using nnilib::SpaceRng;
using ojson = nlohmann::ordered_json;

namespace {

SearchSpace parse(const std::string& text) { return SearchSpace::parse(ojson::parse(text)); }

/// Every grid point in NNI's shape, checking uniqueness and validity on the way.
std::vector<nlohmann::json> enumerate(const SearchSpace& s) {
  const auto size = s.grid_size();
  REQUIRE(size.finite);
  REQUIRE_FALSE(size.saturated);
  std::vector<nlohmann::json> points;
  std::set<std::string> seen;
  for (std::uint64_t i = 0; i < size.count; ++i) {
    const nlohmann::json p = s.grid_parameters(i);
    CHECK(seen.insert(p.dump()).second);
    CHECK(s.to_parameters(s.from_parameters(p)) == p);
    points.push_back(p);
  }
  CHECK_THROWS_AS(s.grid_point(size.count), ParamError);
  return points;
}

std::string grid_error(const SearchSpace& s, std::uint64_t index = 0) {
  try {
    s.grid_point(index);
  } catch (const ParamError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE(
    "grid: the trial's space has 108 points each exactly once with the first dimension slowest") {
  const SearchSpace s = parse(R"({
    "filter_size_c1": {"_type": "choice", "_value": [32, 64, 128]},
    "filter_size_c2": {"_type": "choice", "_value": [32, 64, 128]},
    "kernel_size_c1": {"_type": "choice", "_value": [3, 5]},
    "kernel_size_c2": {"_type": "choice", "_value": [3, 5]},
    "nb_units": {"_type": "choice", "_value": [80, 100, 120]}
  })");
  CHECK(s.grid_size().count == 108);
  CHECK(s.grid_size().to_string() == "108");
  const auto points = enumerate(s);
  REQUIRE(points.size() == 108);
  // Exactly the Cartesian product.
  std::set<std::string> expected;
  for (int f1 : {32, 64, 128})
    for (int f2 : {32, 64, 128})
      for (int k1 : {3, 5})
        for (int k2 : {3, 5})
          for (int u : {80, 100, 120})
            expected.insert(nlohmann::json{
                {"filter_size_c1", f1},
                {"filter_size_c2", f2},
                {"kernel_size_c1", k1},
                {"kernel_size_c2", k2},
                {"nb_units", u}}.dump());
  std::set<std::string> got;
  for (const auto& p : points) got.insert(p.dump());
  CHECK(got == expected);
  // Order: like nested loops in space order.
  CHECK(points[0] == nlohmann::json{{"filter_size_c1", 32},
                                    {"filter_size_c2", 32},
                                    {"kernel_size_c1", 3},
                                    {"kernel_size_c2", 3},
                                    {"nb_units", 80}});
  CHECK(points[1]["nb_units"] == 100);
  CHECK(points[3]["kernel_size_c2"] == 5);
  CHECK(points[3]["nb_units"] == 80);
  CHECK(points[36]["filter_size_c1"] == 64);
  CHECK(points[35]["filter_size_c1"] == 32);
  CHECK(points[107] == nlohmann::json{{"filter_size_c1", 128},
                                      {"filter_size_c2", 128},
                                      {"kernel_size_c1", 5},
                                      {"kernel_size_c2", 5},
                                      {"nb_units", 120}});
  CHECK(points[0]["nb_units"].is_number_integer());
}

TEST_CASE("grid: nested choices expand their sub-spaces") {
  const SearchSpace s = parse(R"({
    "k": {"_type": "choice", "_value": [true, false]},
    "block": {"_type": "choice", "_value": [
      {"_name": "a", "x": {"_type": "choice", "_value": ["p", "q", "r"]}},
      {"_name": "b"},
      {"_name": "c", "y": {"_type": "randint", "_value": [0, 2]},
                     "z": {"_type": "quniform", "_value": [0, 1, 0.5]}}
    ]}
  })");
  CHECK(s.grid_size().count == 2 * (3 + 1 + 2 * 3));
  const auto points = enumerate(s);
  REQUIRE(points.size() == 20);
  std::set<std::string> expected;
  for (bool k : {true, false}) {
    for (const char* x : {"p", "q", "r"})
      expected.insert(nlohmann::json{{"k", k}, {"block", {{"_name", "a"}, {"x", x}}}}.dump());
    expected.insert(nlohmann::json{{"k", k}, {"block", {{"_name", "b"}}}}.dump());
    for (int y : {0, 1})
      for (double z : {0.0, 0.5, 1.0})
        expected.insert(
            nlohmann::json{{"k", k}, {"block", {{"_name", "c"}, {"y", y}, {"z", z}}}}.dump());
  }
  std::set<std::string> got;
  for (const auto& p : points) got.insert(p.dump());
  CHECK(got == expected);
  // The option, then all points of its sub-space.
  CHECK(points[0]["block"] == nlohmann::json{{"_name", "a"}, {"x", "p"}});
  CHECK(points[3]["block"] == nlohmann::json{{"_name", "b"}});
  CHECK(points[4]["block"] == nlohmann::json{{"_name", "c"}, {"y", 0}, {"z", 0.0}});
  CHECK(points[10]["k"] == false);
}

TEST_CASE("grid: deeper nesting and every sampled point lies on the grid") {
  const SearchSpace s = parse(R"({
    "o": {"_type": "choice", "_value": [
      {"_name": "m", "i": {"_type": "choice", "_value": [
          {"_name": "u", "v": {"_type": "qloguniform", "_value": [1, 8, 1]}},
          {"_name": "w"}]}},
      {"_name": "n", "r": {"_type": "randint", "_value": [-2, 3]}}]},
    "q": {"_type": "quniform", "_value": [1, 11, 3]}
  })");
  // o: m -> (u: 8 values + w) = 9, n -> 5; q: 1, 3, 6, 9, 11.
  CHECK(s.grid_size().count == (9 + 5) * 5);
  const auto points = enumerate(s);
  std::set<std::string> grid;
  for (const auto& p : points) grid.insert(p.dump());
  SpaceRng rng(8);
  std::set<std::string> sampled;
  for (int i = 0; i < 60000; ++i) {
    const std::string p = s.sample(rng).dump();
    INFO(p);
    CHECK(grid.count(p) == 1);
    sampled.insert(p);
  }
  CHECK(sampled == grid);  // every grid point is reachable by sampling
}

TEST_CASE("grid: size agrees with per-dimension counts for q-types and randint") {
  CHECK(parse(R"({"r": {"_type": "randint", "_value": [-2, 3]}})").grid_size().count == 5);
  CHECK(parse(R"({"q": {"_type": "quniform", "_value": [1, 10, 3]}})").grid_size().count == 4);
  CHECK(parse(R"({"q": {"_type": "quniform", "_value": [1, 1.2, 5]}})").grid_size().count == 1);
  CHECK(parse(R"({"q": {"_type": "qloguniform", "_value": [0.001, 0.1, 0.001]}})")
            .grid_size()
            .count == 100);
  const SearchSpace q = parse(R"({"q": {"_type": "quniform", "_value": [1, 11, 3]}})");
  std::vector<double> values;
  for (const auto& p : enumerate(q)) values.push_back(p["q"]);
  CHECK(values == std::vector<double>{1, 3, 6, 9, 11});
  // The empty space has one point: {}.
  const SearchSpace empty = parse("{}");
  CHECK(empty.grid_size().count == 1);
  CHECK(empty.grid_parameters(0) == nlohmann::json::object());
}

TEST_CASE("grid: continuous spaces are not finite") {
  for (const char* type :
       {"uniform", "loguniform", "normal", "qnormal", "lognormal", "qlognormal"}) {
    const std::string t = type;
    const std::string value = t[0] == 'q' ? "[1, 2, 1]" : "[1, 2]";
    const SearchSpace s = parse(R"({"c": {"_type": "choice", "_value": [1, 2]},
                                   "x": {"_type": ")" +
                                t + R"(", "_value": )" + value + "}}");
    INFO(type);
    CHECK_FALSE(s.grid_size().finite);
    CHECK(s.grid_size().to_string() == "infinite");
    CHECK(grid_error(s) ==
          R"(search space "x": )" + t + " is not finite, so the search space has no grid");
  }
  // A continuous parameter inside one option makes the whole grid infinite.
  const SearchSpace nested = parse(R"({"b": {"_type": "choice", "_value": [
      {"_name": "p"}, {"_name": "q", "lr": {"_type": "uniform", "_value": [0, 1]}}]}})");
  CHECK_FALSE(nested.grid_size().finite);
  CHECK(grid_error(nested).find(R"("b[q]/lr")") != std::string::npos);
}

TEST_CASE("grid: sizes beyond uint64 saturate instead of overflowing") {
  std::string text = "{";
  for (int i = 0; i < 5; ++i)
    text += std::string(i ? "," : "") + "\"r" + std::to_string(i) +
            R"(": {"_type": "randint", "_value": [0, 1099511627776]})";  // 2^40 each
  text += "}";
  const SearchSpace big = parse(text);
  const auto size = big.grid_size();
  CHECK(size.finite);
  CHECK(size.saturated);
  CHECK(size.to_string() == "more than 18446744073709551615");
  CHECK(grid_error(big).find("too many to index") != std::string::npos);
  // Just below the limit: 2^40 * 2^20 is exact.
  const SearchSpace fits = parse(R"({"a": {"_type": "randint", "_value": [0, 1099511627776]},
                                      "b": {"_type": "randint", "_value": [0, 1048576]}})");
  CHECK(fits.grid_size().count == (std::uint64_t{1} << 60));
  CHECK_FALSE(fits.grid_size().saturated);
  const auto last = fits.grid_parameters((std::uint64_t{1} << 60) - 1);
  CHECK(last == nlohmann::json{{"a", 1099511627775}, {"b", 1048575}});
  // A quantized range too fine to count.
  const SearchSpace fine = parse(R"({"q": {"_type": "quniform", "_value": [0, 1e300, 1e-300]}})");
  CHECK(fine.grid_size().saturated);
  CHECK(grid_error(parse(R"({"c": {"_type": "choice", "_value": [1]}})"), 1) ==
        "search space: grid point 1 out of range (1 points)");
}
