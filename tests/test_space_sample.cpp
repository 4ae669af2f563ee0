// Search space: sampling (NNI's distributions), seeds, nested choices, points <-> parameters.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nnilib/common/error.h"
#include "nnilib/space/space.h"

using nnilib::ParamError;
using nnilib::Point;
using nnilib::SearchSpace;
using nnilib::SpaceRng;
using ojson = nlohmann::ordered_json;

namespace {

constexpr int kSamples = 10000;

SearchSpace parse(const std::string& text) { return SearchSpace::parse(ojson::parse(text)); }

SearchSpace one(const std::string& type, const std::string& value) {
  return parse(R"({"x": {"_type": ")" + type + R"(", "_value": )" + value + "}}");
}

double phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

/// E[clip(round(X/q)*q, low, high)] for X uniform on [low, high] (or log-uniform).
double expected_q_uniform(double low, double high, double q, bool log) {
  const auto measure = [&](double a, double b) { return log ? std::log(b) - std::log(a) : b - a; };
  double mean = 0;
  for (double k = std::nearbyint(low / q); k <= std::nearbyint(high / q); ++k) {
    const double a = std::max(low, (k - 0.5) * q);
    const double b = std::min(high, (k + 0.5) * q);
    if (b <= a) continue;
    mean += std::min(high, std::max(low, k * q)) * measure(a, b) / measure(low, high);
  }
  return mean;
}

/// E[round(X/q)*q] for X ~ N(mu, sigma) (or exp of it).
double expected_q_normal(double mu, double sigma, double q, bool log) {
  const auto cdf = [&](double x) {
    if (!log) return phi((x - mu) / sigma);
    return x <= 0 ? 0.0 : phi((std::log(x) - mu) / sigma);
  };
  const double lo = log ? 0 : std::floor((mu - 12 * sigma) / q);
  const double hi = std::ceil((log ? std::exp(mu + 12 * sigma) : mu + 12 * sigma) / q);
  double mean = 0;
  for (double k = lo; k <= hi; ++k) mean += k * q * (cdf((k + 0.5) * q) - cdf((k - 0.5) * q));
  return mean;
}

struct Stats {
  double mean = 0;
  double sd = 0;
  double min = INFINITY;
  double max = -INFINITY;
};

/// Samples x of `space` kSamples times; checks the JSON number kind; calls check(value).
template <class Check>
Stats draw(const SearchSpace& space, std::uint64_t seed, bool integer, Check check) {
  SpaceRng rng(seed);
  double sum = 0, sum2 = 0;
  Stats s;
  for (int i = 0; i < kSamples; ++i) {
    const nlohmann::json p = space.sample(rng);
    REQUIRE(p.size() == 1);
    const nlohmann::json& v = p.at("x");
    REQUIRE(v.is_number());
    REQUIRE(v.is_number_integer() == integer);
    const double x = v.get<double>();
    check(x);
    sum += x;
    sum2 += x * x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean = sum / kSamples;
  s.sd = std::sqrt(std::max(0.0, sum2 / kSamples - s.mean * s.mean));
  return s;
}

/// The sample mean is within 5 standard errors of `expected`.
void check_mean(const Stats& s, double expected) {
  INFO("sample mean " << s.mean << ", expected " << expected << ", sd " << s.sd);
  CHECK(std::fabs(s.mean - expected) <= 5 * s.sd / std::sqrt(double(kSamples)) + 1e-12);
}

bool on_grid(double x, double q) { return x == std::nearbyint(x / q) * q; }

}  // namespace

TEST_CASE("space rng: mt19937_64 stream and transforms are reproducible") {
  SpaceRng a(5489);  // std::mt19937_64's default seed: 10000th output is fixed by the standard
  std::uint64_t x = 0;
  for (int i = 0; i < 10000; ++i) x = a.bits();
  CHECK(x == 9981545732273789042ULL);
  SpaceRng b(1), c(1);
  for (int i = 0; i < 1000; ++i) {
    const double u = b.uniform01();
    CHECK(u == c.uniform01());
    CHECK((u >= 0 && u < 1));
    const std::uint64_t k = b.below(7);
    CHECK(k == c.below(7));
    CHECK(k < 7);
    CHECK(b.normal() == c.normal());
  }
  // below() is unbiased over a range that does not divide 2^64.
  SpaceRng d(3);
  std::vector<int> counts(3);
  for (int i = 0; i < 30000; ++i) ++counts[d.below(3)];
  for (int n : counts) CHECK(std::abs(n - 10000) < 500);
}

TEST_CASE("space sampling: choice is uniform over its options returned as written") {
  const SearchSpace s = one("choice", R"([32, 0.5, "relu", true])");
  SpaceRng rng(11);
  std::map<std::string, int> counts;
  for (int i = 0; i < kSamples; ++i) {
    const nlohmann::json v = s.sample(rng).at("x");
    if (v.is_number_integer()) CHECK(v == 32);
    if (v.is_number_float()) CHECK(v == 0.5);
    if (v.is_string()) CHECK(v == "relu");
    if (v.is_boolean()) CHECK(v == true);
    ++counts[v.dump()];
  }
  REQUIRE(counts.size() == 4);
  CHECK(counts.count("32") == 1);
  CHECK(counts.count("0.5") == 1);
  CHECK(counts.count("\"relu\"") == 1);
  CHECK(counts.count("true") == 1);
  // Binomial(10000, 1/4): sd ~ 43.
  for (const auto& [value, n] : counts) {
    INFO(value);
    CHECK(std::abs(n - kSamples / 4) < 5 * 43);
  }
  const Stats st = draw(one("choice", "[80, 100, 120]"), 12, true,
                        [](double x) { CHECK((x == 80 || x == 100 || x == 120)); });
  check_mean(st, 100);
}

TEST_CASE("space sampling: randint gives integers from lower to upper - 1") {
  const Stats s = draw(one("randint", "[-3, 7]"), 1, true, [](double x) {
    CHECK(x == std::floor(x));
    CHECK((x >= -3 && x < 7));
  });
  CHECK(s.min == -3);
  CHECK(s.max == 6);
  check_mean(s, (-3 + 7 - 1) / 2.0);
}

TEST_CASE("space sampling: uniform stays between low and high with mean (a+b)/2") {
  const Stats s =
      draw(one("uniform", "[0.1, 0.5]"), 2, false, [](double x) { CHECK((x >= 0.1 && x <= 0.5)); });
  check_mean(s, 0.3);
  const Stats w =
      draw(one("uniform", "[-1000, 3]"), 3, false, [](double x) { CHECK((x >= -1000 && x <= 3)); });
  check_mean(w, -498.5);
}

TEST_CASE("space sampling: quniform rounds to q and clips and gives floats like NNI") {
  const SearchSpace s = one("quniform", "[1, 10, 3]");
  std::set<double> seen;
  const Stats st = draw(s, 4, false, [&](double x) {
    CHECK((x >= 1 && x <= 10));
    CHECK((on_grid(x, 3) || x == 1 || x == 10));
    seen.insert(x);
  });
  CHECK(seen == std::set<double>{1, 3, 6, 9});
  check_mean(st, expected_q_uniform(1, 10, 3, false));
  CHECK(expected_q_uniform(1, 10, 3, false) == Approx((1 * 0.5 + 3 * 3 + 6 * 3 + 9 * 2.5) / 9));
  // A fractional step.
  const Stats f = draw(one("quniform", "[0, 1, 0.1]"), 5, false, [](double x) {
    CHECK((x >= 0 && x <= 1));
    CHECK(on_grid(x, 0.1));
  });
  check_mean(f, expected_q_uniform(0, 1, 0.1, false));
}

TEST_CASE("space sampling: loguniform stays between low and high with mean (b-a)/ln(b/a)") {
  const Stats s = draw(one("loguniform", "[0.0001, 0.1]"), 6, false,
                       [](double x) { CHECK((x >= 0.0001 && x <= 0.1)); });
  check_mean(s, (0.1 - 0.0001) / std::log(0.1 / 0.0001));
  // Not a plain uniform: the median is the geometric mean.
  CHECK(s.mean < 0.05 / 2);
}

TEST_CASE("space sampling: qloguniform rounds exp(U(log low..log high)) to q and clips") {
  const SearchSpace s = one("qloguniform", "[1, 64, 1]");
  std::set<double> seen;
  const Stats st = draw(s, 7, false, [&](double x) {
    CHECK((x >= 1 && x <= 64));
    CHECK(on_grid(x, 1));
    seen.insert(x);
  });
  CHECK(seen.size() == 64);
  check_mean(st, expected_q_uniform(1, 64, 1, true));
  const Stats f = draw(one("qloguniform", "[0.001, 0.1, 0.001]"), 8, false, [](double x) {
    CHECK((x >= 0.001 && x <= 0.1));
    CHECK(on_grid(x, 0.001));
  });
  check_mean(f, expected_q_uniform(0.001, 0.1, 0.001, true));
}

TEST_CASE("space sampling: normal and qnormal") {
  const Stats n = draw(one("normal", "[0.5, 2]"), 9, false, [](double) {});
  check_mean(n, 0.5);
  CHECK(n.sd == Approx(2).epsilon(0.05));
  const Stats q =
      draw(one("qnormal", "[0.3, 1, 0.5]"), 10, false, [](double x) { CHECK(on_grid(x, 0.5)); });
  check_mean(q, expected_q_normal(0.3, 1, 0.5, false));
}

TEST_CASE("space sampling: lognormal and qlognormal") {
  const Stats l = draw(one("lognormal", "[-1, 0.5]"), 13, false, [](double x) { CHECK(x > 0); });
  check_mean(l, std::exp(-1 + 0.5 * 0.5 / 2));
  const Stats q = draw(one("qlognormal", "[0, 0.5, 0.1]"), 14, false, [](double x) {
    CHECK(x >= 0);
    CHECK(on_grid(x, 0.1));
  });
  check_mean(q, expected_q_normal(0, 0.5, 0.1, true));
  CHECK(expected_q_normal(0, 0.5, 0.1, true) == Approx(std::exp(0.125)).epsilon(0.01));
}

TEST_CASE("space sampling: nested choices give _name objects with their own parameters") {
  const SearchSpace s = parse(R"({
    "lr": {"_type": "loguniform", "_value": [0.001, 0.1]},
    "block": {"_type": "choice", "_value": [
      {"_name": "resnet", "conv": {"_type": "randint", "_value": [1, 5]},
                          "inner": {"_type": "choice", "_value": [
                             {"_name": "x", "k": {"_type": "choice", "_value": [3, 5]}},
                             {"_name": "y"}]}},
      {"_name": "plain"},
      {"_name": "wide", "width": {"_type": "quniform", "_value": [64, 256, 64]}}
    ]}
  })");
  SpaceRng rng(21);
  std::map<std::string, int> names;
  std::map<std::string, int> inner;
  for (int i = 0; i < 3000; ++i) {
    const Point point = s.sample_point(rng);
    const nlohmann::json p = s.to_parameters(point);
    REQUIRE(p.size() == 2);
    REQUIRE(p.at("lr").is_number_float());
    const nlohmann::json& b = p.at("block");
    REQUIRE(b.is_object());
    const std::string name = b.at("_name");
    ++names[name];
    if (name == "resnet") {
      REQUIRE(b.size() == 3);
      CHECK(b.at("conv").is_number_integer());
      CHECK((b.at("conv") >= 1 && b.at("conv") < 5));
      const nlohmann::json& in = b.at("inner");
      ++inner[in.at("_name").get<std::string>()];
      if (in.at("_name") == "x") {
        REQUIRE(in.size() == 2);
        CHECK((in.at("k") == 3 || in.at("k") == 5));
      } else {
        CHECK(in == nlohmann::json{{"_name", "y"}});
      }
    } else if (name == "plain") {
      CHECK(b == nlohmann::json{{"_name", "plain"}});
    } else {
      REQUIRE(name == "wide");
      REQUIRE(b.size() == 2);
      const double w = b.at("width");
      CHECK((w == 64 || w == 128 || w == 192 || w == 256));
    }
    // Inactive dimensions are empty in the point; the round trip is exact.
    for (std::size_t d = 0; d < s.dimensions().size(); ++d)
      CHECK(point[d].has_value() == s.active(d, point));
    CHECK(s.from_parameters(p) == point);
  }
  REQUIRE(names.size() == 3);
  for (const auto& [n, c] : names) CHECK(std::abs(c - 1000) < 5 * 26);
  REQUIRE(inner.size() == 2);
}

TEST_CASE("space sampling: the same seed gives the same samples and another seed others") {
  const SearchSpace s = parse(R"({
    "a": {"_type": "uniform", "_value": [0, 1]},
    "b": {"_type": "choice", "_value": [{"_name": "p", "c": {"_type": "normal", "_value": [0, 1]}},
                                        {"_name": "q"}]},
    "d": {"_type": "randint", "_value": [0, 1000000]}
  })");
  auto run = [&](std::uint64_t seed) {
    SpaceRng rng(seed);
    std::vector<nlohmann::json> v;
    for (int i = 0; i < 100; ++i) v.push_back(s.sample(rng));
    return v;
  };
  CHECK(run(42) == run(42));
  CHECK(run(42) != run(43));
  const auto a = run(42), b = run(43);
  int equal = 0;
  for (int i = 0; i < 100; ++i) equal += a[i]["a"] == b[i]["a"];
  CHECK(equal == 0);
}

TEST_CASE("space: sample_into resamples one dimension and its sub-space") {
  const SearchSpace s = parse(R"({
    "block": {"_type": "choice", "_value": [
      {"_name": "a", "x": {"_type": "uniform", "_value": [0, 1]}},
      {"_name": "b", "y": {"_type": "randint", "_value": [0, 3]}}]},
    "z": {"_type": "uniform", "_value": [5, 6]}
  })");
  SpaceRng rng(5);
  Point p = s.sample_point(rng);
  const double z = *p[3];
  std::set<double> chosen;
  for (int i = 0; i < 200; ++i) {
    s.sample_into(0, rng, p);
    chosen.insert(*p[0]);
    CHECK(p[1].has_value() == (*p[0] == 0));
    CHECK(p[2].has_value() == (*p[0] == 1));
    CHECK(*p[3] == z);  // untouched
    CHECK_NOTHROW(s.to_parameters(p));
  }
  CHECK(chosen.size() == 2);
  Point wrong(2);
  CHECK_THROWS_AS(s.sample_into(0, rng, wrong), ParamError);
}

TEST_CASE("space: to_parameters and from_parameters reject what does not fit") {
  const SearchSpace s = parse(R"({
    "c": {"_type": "choice", "_value": [32, 64]},
    "n": {"_type": "randint", "_value": [0, 10]},
    "u": {"_type": "uniform", "_value": [0, 1]},
    "b": {"_type": "choice", "_value": [{"_name": "p", "k": {"_type": "normal", "_value": [0, 1]}}]}
  })");
  const auto message = [&](const nlohmann::json& params) -> std::string {
    try {
      s.from_parameters(params);
    } catch (const ParamError& e) {
      return e.what();
    }
    return "";
  };
  const nlohmann::json good = {
      {"c", 64}, {"n", 3}, {"u", 0.5}, {"b", {{"_name", "p"}, {"k", 1.5}}}};
  const Point p = s.from_parameters(good);
  CHECK(p == Point{1.0, 3.0, 0.5, 0.0, 1.5});
  CHECK(s.to_parameters(p) == good);

  auto with = [&](const char* key, nlohmann::json v) {
    nlohmann::json j = good;
    j[key] = std::move(v);
    return j;
  };
  CHECK(message(with("c", 48)) == R"(parameters "c": 48 is not one of the options [32, 64])");
  CHECK(message(with("n", 10)) == R"(parameters "n": randint value 10 outside [0, 10))");
  CHECK(message(with("n", 2.5)) == R"(parameters "n": randint value must be an integer (got 2.5))");
  CHECK(message(with("u", 1.5)) == R"(parameters "u": uniform value 1.5 outside [0, 1])");
  CHECK(message(with("u", "x")) == R"(parameters "u": must be a number (got "x"))");
  CHECK(message(with("extra", 1)) == R"(parameters "extra": not a parameter of the search space)");
  CHECK(message(with("b", {{"_name", "p"}})) == R"(parameters "b[p]/k": missing)");
  CHECK(message(with("b", {{"_name", "p"}, {"k", 1}, {"j", 2}})) ==
        R"(parameters "b[p]/j": not a parameter of the search space)");
  CHECK(message(with("b", {{"_name", "q"}})).find(R"(parameters "b": {"_name": "q"} is not one)") ==
        0);
  nlohmann::json missing = good;
  missing.erase("n");
  CHECK(message(missing) == R"(parameters "n": missing)");
  CHECK(message(nlohmann::json::array()) == "parameters: must be a JSON object (got [])");

  Point incomplete = p;
  incomplete[4].reset();
  CHECK_THROWS_WITH(s.to_parameters(incomplete),
                    R"(parameters "b[p]/k": no value for an active dimension)");
  Point bad = p;
  bad[0] = 2.0;
  CHECK_THROWS_WITH(s.to_parameters(bad),
                    R"(parameters "c": option index 2 out of range (2 options))");
  CHECK_THROWS_AS(s.to_parameters(Point(3)), ParamError);
}
