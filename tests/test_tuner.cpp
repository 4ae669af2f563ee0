// Tuners: GridSearch, Random, TPE, Evolution (NNI's algorithms) and their factory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nnilib/common/error.h"
#include "nnilib/space/space.h"
#include "nnilib/tuner/tuner.h"
#include "nnilib/tuner/tuner_registry.h"

using nnilib::ParamError;
using nnilib::SearchSpace;
using nnilib::Tuner;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

SearchSpace parse(const std::string& text) { return SearchSpace::parse(ojson::parse(text)); }

const char* kTrialSpace = R"({
  "filter_size_c1": {"_type": "choice", "_value": [32, 64, 128]},
  "filter_size_c2": {"_type": "choice", "_value": [32, 64, 128]},
  "kernel_size_c1": {"_type": "choice", "_value": [3, 5]},
  "kernel_size_c2": {"_type": "choice", "_value": [3, 5]},
  "nb_units": {"_type": "choice", "_value": [80, 100, 120]}
})";

// A mixed space with a nested choice: the benchmark of TPE against Random.
const char* kMixedSpace = R"({
  "lr": {"_type": "loguniform", "_value": [0.0001, 0.1]},
  "units": {"_type": "quniform", "_value": [16, 256, 16]},
  "act": {"_type": "choice", "_value": ["relu", "tanh", "sigmoid"]},
  "model": {"_type": "choice", "_value": [
    {"_name": "cnn", "kernel": {"_type": "choice", "_value": [3, 5, 7]},
                     "dropout": {"_type": "uniform", "_value": [0, 0.8]}},
    {"_name": "mlp", "layers": {"_type": "randint", "_value": [1, 6]}}
  ]}
})";

// Known optimum 0.5 at lr = 3e-3, units = 160, relu, cnn with kernel 5 and dropout 0.3.
double mixed_objective(const json& p) {
  const double lr = std::log10(p["lr"].get<double>()) - std::log10(3e-3);
  const double units = (p["units"].get<double>() - 160) / 100;
  const std::string act = p["act"];
  double f = -lr * lr - units * units - (act == "relu" ? 0 : act == "tanh" ? 0.3 : 1.0);
  const json& m = p["model"];
  if (m["_name"] == "cnn") {
    const double d = m["dropout"].get<double>() - 0.3;
    f += 0.5 - (m["kernel"] == 5 ? 0 : 0.4) - 2 * d * d;
  } else {
    f += 0.2 - 0.1 * std::abs(m["layers"].get<int>() - 3);
  }
  return f;
}

// Runs `budget` sequential trials; returns every result in order.
std::vector<double> run(Tuner& tuner, int budget, const std::function<double(const json&)>& f) {
  std::vector<double> results;
  for (int id = 0; id < budget; ++id) {
    const auto p = tuner.generate_parameters(id);
    REQUIRE(p);
    const double v = f(*p);
    tuner.receive_trial_result(id, *p, v);
    tuner.trial_end(id, true);
    results.push_back(v);
  }
  return results;
}

double mean_best(const std::string& name, const json& args, int budget, int seeds, bool maximize,
                 const std::function<double(const json&)>& f) {
  const SearchSpace space = parse(kMixedSpace);
  double sum = 0;
  for (int s = 0; s < seeds; ++s) {
    auto tuner = nnilib::make_tuner(name, args, space, 1000 + s);
    const auto r = run(*tuner, budget, f);
    sum += maximize ? *std::max_element(r.begin(), r.end()) : *std::min_element(r.begin(), r.end());
  }
  return sum / seeds;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ParamError& e) {
    return e.what();
  }
  return "";
}

// Checks a parameter set against the space: from_parameters() range-checks
// every value and the nesting; q-types must be multiples of q or a bound.
void check_in_space(const SearchSpace& space, const json& p) {
  nnilib::Point point;
  REQUIRE_NOTHROW(point = space.from_parameters(p));
  for (std::size_t i = 0; i < point.size(); ++i) {
    if (!point[i]) {
      CHECK_FALSE(space.active(i, point));
      continue;
    }
    const auto& d = space.dimensions()[i];
    const double x = *point[i];
    CHECK(std::isfinite(x));
    if (d.quantized()) {
      const double k = x / d.q;
      const bool on_bound = !d.normal_distributed() && (x == d.low || x == d.high);
      CHECK((std::abs(k - std::round(k)) < 1e-9 || on_bound));
    }
    if (d.type == nnilib::SpaceType::kRandint) CHECK(x == std::floor(x));
  }
}

}  // namespace

TEST_CASE("tuner GridSearch: the trial's space, every one of 108 points once, then nothing") {
  const SearchSpace space = parse(kTrialSpace);
  auto tuner = nnilib::make_tuner("GridSearch", json::object(), space, 1);
  CHECK(tuner->name() == "GridSearch");
  std::set<std::string> seen, expected;
  for (std::uint64_t i = 0; i < 108; ++i) expected.insert(space.grid_parameters(i).dump());
  for (int id = 0; id < 108; ++id) {
    const auto p = tuner->generate_parameters(id);
    REQUIRE(p);
    CHECK(seen.insert(p->dump()).second);
  }
  CHECK(seen == expected);
  CHECK_FALSE(tuner->generate_parameters(108));
  CHECK_FALSE(tuner->generate_parameters(109));
}

TEST_CASE("tuner GridSearch: last dimension fastest, like NNI") {
  const SearchSpace space = parse(kTrialSpace);
  auto tuner = nnilib::make_tuner("gridsearch", nullptr, space, 1);
  CHECK(*tuner->generate_parameters(0) ==
        json::parse(R"({"filter_size_c1": 32, "filter_size_c2": 32,
      "kernel_size_c1": 3, "kernel_size_c2": 3, "nb_units": 80})"));
  CHECK((*tuner->generate_parameters(1))["nb_units"] == 100);
  CHECK((*tuner->generate_parameters(2))["nb_units"] == 120);
  CHECK((*tuner->generate_parameters(3))["kernel_size_c2"] == 5);
}

TEST_CASE("tuner GridSearch: finite mixed space with q-types and nested choices, each point once") {
  const SearchSpace space = parse(R"({
    "q": {"_type": "quniform", "_value": [0, 10, 5]},
    "ql": {"_type": "qloguniform", "_value": [1, 100, 50]},
    "n": {"_type": "randint", "_value": [2, 5]},
    "block": {"_type": "choice", "_value": [
      {"_name": "a", "k": {"_type": "choice", "_value": [1, 2]}},
      {"_name": "b"},
      {"_name": "c", "inner": {"_type": "choice", "_value": [
         {"_name": "x", "r": {"_type": "randint", "_value": [0, 2]}}, {"_name": "y"}]}}
    ]}
  })");
  const auto size = space.grid_size();
  REQUIRE(size.finite);
  std::set<std::string> expected, seen;
  for (std::uint64_t i = 0; i < size.count; ++i) expected.insert(space.grid_parameters(i).dump());
  auto tuner = nnilib::make_tuner("GridSearch", nullptr, space, 1);
  while (auto p = tuner->generate_parameters(static_cast<std::int64_t>(seen.size()))) {
    check_in_space(space, *p);
    CHECK(seen.insert(p->dump()).second);
    REQUIRE(seen.size() <= size.count);
  }
  CHECK(seen == expected);
  CHECK(seen.size() == size.count);  // 3 * 3 * 3 * (2 + 1 + 3)
  CHECK(size.count == 162);
}

TEST_CASE(
    "tuner GridSearch: continuous dimensions are divided ever finer (middle, quartiles, ...)") {
  const SearchSpace space = parse(R"({"x": {"_type": "uniform", "_value": [0, 1]},
                                      "y": {"_type": "normal", "_value": [10, 2]}})");
  auto tuner = nnilib::make_tuner("GridSearch", nullptr, space, 1);
  const json p0 = *tuner->generate_parameters(0);
  CHECK(p0["x"] == 0.5);
  CHECK(p0["y"].get<double>() == Approx(10));
  // Second epoch: x in {0.5, 0.25, 0.75}, y at the quartiles 10 -+ 0.6745 * 2.
  std::set<double> xs, ys;
  for (int id = 1; id < 9; ++id) {
    const json p = *tuner->generate_parameters(id);
    xs.insert(p["x"].get<double>());
    ys.insert(std::round(p["y"].get<double>() * 1000) / 1000);
  }
  CHECK(xs == std::set<double>{0.25, 0.5, 0.75});
  CHECK(ys == std::set<double>{8.651, 10, 11.349});
  for (int id = 9; id < 200; ++id) CHECK(tuner->generate_parameters(id));  // never exhausted
}

TEST_CASE("tuner TPE beats Random on a fixed budget (mixed space with a nested choice)") {
  const int budget = 80, seeds = 8;
  const double tpe =
      mean_best("TPE", {{"optimize_mode", "maximize"}}, budget, seeds, true, mixed_objective);
  const double random = mean_best("Random", nullptr, budget, seeds, true, mixed_objective);
  WARN("mean best of " << seeds << " seeds, " << budget << " trials: TPE " << tpe << ", Random "
                       << random << " (optimum 0.5)");
  CHECK(tpe > random + 0.05);
  CHECK(tpe > 0.2);
}

TEST_CASE("tuner TPE and Evolution: minimize mode minimizes") {
  auto loss = [](const json& p) { return -mixed_objective(p); };
  const double tpe_min = mean_best("TPE", {{"optimize_mode", "minimize"}}, 60, 4, false, loss);
  const double tpe_wrong = mean_best("TPE", {{"optimize_mode", "maximize"}}, 60, 4, false, loss);
  CHECK(tpe_min < tpe_wrong - 0.05);
  const double tpe_default = mean_best("TPE", nullptr, 60, 4, false, loss);  // NNI: minimize
  CHECK(tpe_default == tpe_min);
  const json evo_args = {{"optimize_mode", "minimize"}, {"population_size", 10}};
  const double evo_min = mean_best("Evolution", evo_args, 60, 4, false, loss);
  const double evo_wrong = mean_best(
      "Evolution", {{"optimize_mode", "maximize"}, {"population_size", 10}}, 60, 4, false, loss);
  CHECK(evo_min < evo_wrong - 0.05);
}

TEST_CASE("tuner Evolution improves over its initial population") {
  const SearchSpace space = parse(kMixedSpace);
  double first = 0, last = 0;
  const int seeds = 6, population = 16, budget = 120;
  for (int s = 0; s < seeds; ++s) {
    auto tuner = nnilib::make_tuner(
        "Evolution", {{"optimize_mode", "maximize"}, {"population_size", population}}, space, s);
    const auto r = run(*tuner, budget, mixed_objective);
    for (int i = 0; i < population; ++i) first += r[i] / (population * seeds);
    for (int i = budget - population; i < budget; ++i) last += r[i] / (population * seeds);
  }
  WARN("Evolution mean result: initial population " << first << ", last " << population
                                                    << " trials " << last);
  CHECK(last > first + 0.3);
}

TEST_CASE("tuner: every tuner samples every type and nested choices within bounds") {
  const SearchSpace space = parse(R"({
    "c": {"_type": "choice", "_value": [1, "two", 3.5, true]},
    "ri": {"_type": "randint", "_value": [-3, 4]},
    "u": {"_type": "uniform", "_value": [-1, 2]},
    "qu": {"_type": "quniform", "_value": [0.5, 10, 2]},
    "lu": {"_type": "loguniform", "_value": [0.001, 10]},
    "qlu": {"_type": "qloguniform", "_value": [1, 1000, 10]},
    "n": {"_type": "normal", "_value": [5, 2]},
    "qn": {"_type": "qnormal", "_value": [0, 10, 3]},
    "ln": {"_type": "lognormal", "_value": [0, 1]},
    "qln": {"_type": "qlognormal", "_value": [2, 0.5, 0.25]},
    "net": {"_type": "choice", "_value": [
      {"_name": "deep", "depth": {"_type": "randint", "_value": [1, 4]},
       "cell": {"_type": "choice", "_value": [
         {"_name": "conv", "lr": {"_type": "loguniform", "_value": [1e-5, 1e-2]}},
         {"_name": "pool"}]}},
      {"_name": "wide", "width": {"_type": "qnormal", "_value": [64, 16, 8]}},
      {"_name": "none"}
    ]}
  })");
  const std::vector<std::pair<std::string, json>> tuners{
      {"Random", nullptr},
      {"TPE", {{"tpe_args", {{"n_startup_jobs", 5}}}}},
      {"TPE", {{"tpe_args", {{"n_startup_jobs", 0}, {"constant_liar_type", nullptr}}}}},
      {"Evolution", {{"population_size", 5}}},
      {"GridSearch", nullptr}};
  for (const auto& [name, args] : tuners) {
    INFO(name << " " << args.dump());
    auto tuner = nnilib::make_tuner(name, args, space, 7);
    std::set<std::string> nets;
    for (int id = 0; id < 80; ++id) {
      const auto p = tuner->generate_parameters(id);
      REQUIRE(p);
      check_in_space(space, *p);
      nets.insert(
          (*p)["net"]["_name"].get<std::string>() +
          ((*p)["net"].contains("cell") ? (*p)["net"]["cell"]["_name"].get<std::string>() : ""));
      // A loose objective so that model-based tuners leave the prior.
      tuner->receive_trial_result(id, *p,
                                  -std::abs((*p)["u"].get<double>() - 0.3) - (*p)["ri"].get<int>());
    }
    if (name != "GridSearch") CHECK(nets.size() == 4);  // every nested option was visited
  }
}

TEST_CASE("tuner: concurrent requests before any result (constant liar) stay valid and distinct") {
  const SearchSpace space = parse(kMixedSpace);
  for (const std::string name : {"TPE", "Random", "Evolution"}) {
    INFO(name);
    auto tuner = nnilib::make_tuner(name, {{"optimize_mode", "maximize"}}, space, 3);
    std::int64_t id = 0;
    for (int round = 0; round < 12; ++round) {
      std::vector<std::pair<std::int64_t, json>> batch;
      for (int k = 0; k < 4; ++k, ++id) batch.emplace_back(id, *tuner->generate_parameters(id));
      std::set<std::string> distinct;
      for (const auto& [pid, p] : batch) {
        check_in_space(space, p);
        distinct.insert(p.dump());
      }
      CHECK(distinct.size() == batch.size());
      // Results come back out of order; one trial fails.
      std::reverse(batch.begin(), batch.end());
      for (const auto& [pid, p] : batch) {
        if (pid % 7 == 3) {
          tuner->trial_end(pid, false);
          continue;
        }
        tuner->receive_trial_result(pid, p, mixed_objective(p));
        tuner->trial_end(pid, true);
      }
    }
  }
}

TEST_CASE("tuner Random and TPE: a finite space is exhausted without repeats (NNI's dedup)") {
  const SearchSpace space = parse(R"({"a": {"_type": "choice", "_value": [1, 2, 3]},
                                      "b": {"_type": "quniform", "_value": [0, 1, 1]}})");
  for (const std::string name : {"Random", "TPE"}) {
    INFO(name);
    auto tuner = nnilib::make_tuner(
        name, name == "TPE" ? json{{"tpe_args", {{"n_startup_jobs", 2}}}} : json(), space, 5);
    std::set<std::string> seen;
    for (int id = 0; id < 6; ++id) {
      const auto p = tuner->generate_parameters(id);
      REQUIRE(p);
      CHECK(seen.insert(p->dump()).second);
      tuner->receive_trial_result(id, *p, (*p)["a"].get<double>());
    }
    CHECK_FALSE(tuner->generate_parameters(6));
  }
}

TEST_CASE("tuner: imported results count as tried (resume)") {
  const SearchSpace space = parse(R"({"a": {"_type": "choice", "_value": ["x", "y", "z", "w"]}})");
  for (const std::string name : {"Random", "TPE", "GridSearch"}) {
    INFO(name);
    auto tuner = nnilib::make_tuner(name, nullptr, space, 5);
    tuner->import_data({{{{"a", "y"}}, 0.5}, {{{"a", "w"}}, 0.7}});
    std::set<std::string> got;
    while (auto p = tuner->generate_parameters(static_cast<std::int64_t>(got.size())))
      got.insert((*p)["a"].get<std::string>());
    CHECK(got == std::set<std::string>{"x", "z"});
  }
  // TPE learns from imported history: the good option dominates after warm-up.
  const SearchSpace big = parse(R"({"a": {"_type": "choice", "_value": [0, 1, 2, 3, 4, 5, 6, 7]},
                                    "u": {"_type": "uniform", "_value": [0, 1]}})");
  auto tpe = nnilib::make_tuner("TPE", {{"optimize_mode", "maximize"}}, big, 9);
  std::vector<nnilib::ImportedTrial> history;
  nnilib::SpaceRng rng(1);
  for (int i = 0; i < 40; ++i) {
    const json p = big.sample(rng);
    history.push_back({p, p["a"] == 6 ? 1.0 : 0.0});
  }
  tpe->import_data(history);
  int sixes = 0;
  for (int id = 0; id < 20; ++id) {
    const json p = *tpe->generate_parameters(id);
    sixes += p["a"] == 6;
    tpe->trial_end(id, false);
  }
  CHECK(sixes >= 10);
}

TEST_CASE("tuner: the same seed gives the same sequence, another seed another") {
  const SearchSpace space = parse(kMixedSpace);
  for (const std::string name : {"Random", "TPE", "Evolution"}) {
    INFO(name);
    auto sequence = [&](std::uint64_t seed) {
      auto tuner = nnilib::make_tuner(
          name, name == "TPE" ? json{{"tpe_args", {{"n_startup_jobs", 5}}}} : json(), space, seed);
      std::vector<std::string> out;
      for (int id = 0; id < 30; ++id) {
        const json p = *tuner->generate_parameters(id);
        out.push_back(p.dump());
        tuner->receive_trial_result(id, p, mixed_objective(p));
      }
      return out;
    };
    CHECK(sequence(42) == sequence(42));
    CHECK(sequence(42) != sequence(43));
  }
  // classArgs seed overrides the factory's seed.
  auto a = nnilib::make_tuner("TPE", {{"seed", 5}}, space, 1);
  auto b = nnilib::make_tuner("TPE", {{"seed", 5}}, space, 2);
  CHECK(*a->generate_parameters(0) == *b->generate_parameters(0));
}

TEST_CASE("tuner: bad names and classArgs are rejected naming the tuner and the argument") {
  const SearchSpace space = parse(kTrialSpace);
  auto make = [&](const std::string& name, const json& args) {
    return error_of([&] { nnilib::make_tuner(name, args, space, 0); });
  };
  CHECK(make("Anneal", nullptr) ==
        "tuner \"Anneal\": an NNI tuner that is not embedded here (run it with nnictl); embedded "
        "tuners: TPE, Random, GridSearch, Evolution, Hyperband, BOHB, ASHA");
  CHECK(make("Tpe2", nullptr) ==
        "tuner \"Tpe2\": unknown tuner; embedded tuners: TPE, Random, GridSearch, Evolution, "
        "Hyperband, BOHB, ASHA");
  CHECK(make("TPE", {{"optimize_mode", "max"}}) ==
        "tuner TPE: classArgs.optimize_mode must be one of maximize, minimize, got \"max\"");
  CHECK(make("TPE", {{"seed", "1"}}) ==
        "tuner TPE: classArgs.seed must be an integer in [0, 9223372036854775807], got \"1\"");
  CHECK(make("TPE", {{"parallel_optimize", true}}) ==
        "tuner TPE: unknown classArgs key \"parallel_optimize\"; accepted: optimize_mode, seed, "
        "tpe_args");
  CHECK(make("TPE", {{"tpe_args", {{"gama", 0.5}}}}) ==
        "tuner TPE: unknown classArgs.tpe_args key \"gama\"; accepted: constant_liar_type, "
        "n_startup_jobs, n_ei_candidates, linear_forgetting, prior_weight, gamma");
  CHECK(make("TPE", {{"tpe_args", {{"gamma", 0}}}}) ==
        "tuner TPE: classArgs.tpe_args.gamma must be a number > 0, got 0");
  CHECK(make("TPE", {{"tpe_args", {{"constant_liar_type", "min"}}}}) ==
        "tuner TPE: classArgs.tpe_args.constant_liar_type must be one of best, worst, mean, null, "
        "got \"min\"");
  CHECK(make("TPE", {{"tpe_args", {{"n_ei_candidates", 2.5}}}})
            .find("n_ei_candidates must be an integer") != std::string::npos);
  CHECK(make("TPE", json::array()) == "tuner TPE: classArgs must be a mapping, got []");
  CHECK(make("Evolution", {{"population_size", 0}}) ==
        "tuner Evolution: classArgs.population_size must be an integer in [1, 99999], got 0");
  CHECK(
      make("Evolution", {{"seed", 1}}) ==
      "tuner Evolution: unknown classArgs key \"seed\"; accepted: optimize_mode, population_size");
  CHECK(make("GridSearch", {{"seed", 1}}) ==
        "tuner GridSearch: unknown classArgs key \"seed\"; accepted: optimize_mode");
  CHECK(make("Random", {{"seed", -1}}) ==
        "tuner Random: classArgs.seed must be an integer in [0, 9223372036854775807], got -1");
  CHECK(error_of([] { nnilib::make_tuner("GridSearch", nullptr, SearchSpace(), 0); }) ==
        "tuner GridSearch: the search space is empty");
  // Valid spellings pass.
  CHECK(make("tpe", {{"optimize_mode", "maximize"},
                     {"seed", 3},
                     {"tpe_args",
                      {{"constant_liar_type", nullptr},
                       {"n_startup_jobs", 10},
                       {"n_ei_candidates", 20},
                       {"linear_forgetting", 100},
                       {"prior_weight", 0},
                       {"gamma", 0.5}}}}) == "");
  CHECK(make("RANDOM", {{"seed", 7}, {"optimize_mode", "minimize"}}) == "");
}

TEST_CASE("tuner ASHA: rung budgets, promotion of the top 1/eta, asynchronously") {
  const SearchSpace space = parse(R"({"x": {"_type": "uniform", "_value": [0, 1]}})");
  auto budgets_of = [&](const json& args) {
    // Drive one configuration up: the first rung 0 result of each is the best.
    auto t = nnilib::make_tuner("ASHA", args, space, 1);
    std::vector<double> seen;
    std::int64_t id = 0;
    for (int i = 0; i < 200 && seen.size() < 8; ++i, ++id) {
      const auto p = t->generate_parameters(id);
      REQUIRE(p);
      const double b = (*p)["TRIAL_BUDGET"].get<double>();
      if (std::find(seen.begin(), seen.end(), b) == seen.end()) seen.push_back(b);
      t->receive_trial_result(id, *p, (*p)["x"].get<double>() * b);
      t->trial_end(id, true);
    }
    std::sort(seen.begin(), seen.end());
    return seen;
  };
  // R / eta^(K-k): with R 9, eta 3: 1, 3, 9; with R 10: 10/9, 10/3, 10; R 27, eta 3, min 3:
  // 3, 9, 27; R 16, eta 2: 1, 2, 4, 8, 16 (compare NNI's Hyperband: r_i = R * eta^-i).
  CHECK(budgets_of({{"R", 9}, {"eta", 3}}) == std::vector<double>{1, 3, 9});
  const auto ten = budgets_of({{"R", 10}, {"eta", 3}});
  REQUIRE(ten.size() == 3);
  CHECK(ten[0] == Approx(10.0 / 9));
  CHECK(ten[1] == Approx(10.0 / 3));
  CHECK(ten[2] == Approx(10));
  CHECK(budgets_of({{"R", 27}, {"eta", 3}, {"min_budget", 3}}) == std::vector<double>{3, 9, 27});
  CHECK(budgets_of({{"R", 16}, {"eta", 2}}) == std::vector<double>{1, 2, 4, 8, 16});

  // Promotion: with eta 3, the best of every 3 results at a rung moves up, at once.
  auto t = nnilib::make_tuner("ASHA", {{"R", 9}, {"eta", 3}}, space, 7);
  std::vector<json> rung0;
  for (std::int64_t id = 0; id < 2; ++id) {
    rung0.push_back(*t->generate_parameters(id));
    CHECK(rung0.back()["TRIAL_BUDGET"] == 1.0);
  }
  // Two results: floor(2/3) = 0 promotable, a third request is a new configuration.
  t->receive_trial_result(0, rung0[0], 0.50);
  t->receive_trial_result(1, rung0[1], 0.90);
  rung0.push_back(*t->generate_parameters(2));
  CHECK(rung0.back()["TRIAL_BUDGET"] == 1.0);
  t->receive_trial_result(2, rung0[2], 0.70);
  // Three results: the best (0.90) is promoted to 3 epochs, with the same parameters.
  const json up = *t->generate_parameters(3);
  CHECK(up["TRIAL_BUDGET"] == 3.0);
  CHECK(up["x"] == rung0[1]["x"]);
  // It is promoted once only: the next request starts a new configuration.
  const json fresh = *t->generate_parameters(4);
  CHECK(fresh["TRIAL_BUDGET"] == 1.0);
  CHECK(fresh["x"] != rung0[1]["x"]);
  // A failed trial (NaN) is never promoted.
  t->receive_trial_result(4, fresh, std::nan(""));
  t->trial_end(4, false);

  // Minimize mode promotes the smallest result.
  auto m =
      nnilib::make_tuner("ASHA", {{"R", 3}, {"eta", 3}, {"optimize_mode", "minimize"}}, space, 3);
  std::vector<json> ps;
  const double values[] = {0.5, 0.1, 0.9};
  for (std::int64_t id = 0; id < 3; ++id) {
    ps.push_back(*m->generate_parameters(id));
    m->receive_trial_result(id, ps.back(), values[id]);
  }
  const json promoted = *m->generate_parameters(3);
  CHECK(promoted["TRIAL_BUDGET"] == 3.0);
  CHECK(promoted["x"] == ps[1]["x"]);

  // A resumed experiment: imported results rebuild the rungs (a config seen at 3 epochs
  // was promoted already and is not promoted again).
  auto r = nnilib::make_tuner("ASHA", {{"R", 9}, {"eta", 3}}, space, 11);
  json a = {{"x", 0.2}, {"TRIAL_BUDGET", 1.0}}, b = {{"x", 0.3}, {"TRIAL_BUDGET", 1.0}},
       c = {{"x", 0.4}, {"TRIAL_BUDGET", 1.0}}, c3 = {{"x", 0.4}, {"TRIAL_BUDGET", 3.0}};
  r->import_data({{a, 0.2}, {b, 0.3}, {c, 0.9}, {c3, 0.95}});
  const json next = *r->generate_parameters(0);
  CHECK(next["TRIAL_BUDGET"] == 1.0);  // c is the top of rung 0 but was promoted already

  CHECK(error_of([&] {
          nnilib::make_tuner("ASHA", {{"R", 9}, {"min_budget", 10}}, space, 0);
        }) == "tuner ASHA: classArgs.min_budget must be at most R (9.0), got 10");
  CHECK_THAT(error_of([&] {
               nnilib::make_tuner("ASHA", {{"eta", 1}}, space, 0);
             }),
             Catch::Contains("classArgs.eta"));
}

TEST_CASE("tuner Hyperband: NNI's brackets for R 81, eta 3, its ids and both exec modes") {
  const SearchSpace space = parse(R"({"x": {"_type": "uniform", "_value": [0, 1]}})");
  // Per bracket s, the rounds' (n, r) as NNI 3.0's code computes them (n = ceil((s_max +
  // 1) eta^s / (s + 1)), r = R / eta^s; round i: floor(n / eta^i), floor(r eta^i)): the
  // table of the Hyperband paper. (The table in NNI's docstring says 27, 9, 6 for s = 3,
  // 2, 1; its code gives 34, 15, 8.)
  const std::vector<std::pair<std::string, std::vector<std::pair<int, int>>>> nni = {
      {"0-4", {{81, 1}, {27, 3}, {9, 9}, {3, 27}, {1, 81}}},
      {"0-3", {{34, 3}, {11, 9}, {3, 27}, {1, 81}}},
      {"0-2", {{15, 9}, {5, 27}, {1, 81}}},
      {"0-1", {{8, 27}, {2, 81}}},
      {"0-0", {{5, 81}}},
      {"1-4", {{81, 1}}},  // then the next Hyperband iteration
  };
  auto t = nnilib::make_tuner("Hyperband", {{"R", 81}, {"eta", 3}}, space, 1);
  CHECK_FALSE(t->exhausted());
  std::int64_t id = 0;
  for (const auto& [bracket, rounds] : nni) {
    std::set<std::string> promoted;  // counters expected in the next round
    for (std::size_t round = 0; round < rounds.size(); ++round) {
      INFO(bracket << " round " << round);
      const auto [n, r] = rounds[round];
      std::vector<std::pair<double, std::string>> ranked;
      std::vector<std::pair<std::int64_t, json>> issued;
      std::set<std::string> counters;
      for (int k = 0; k < n; ++k, ++id) {
        const auto p = t->generate_parameters(id);
        REQUIRE(p);
        const std::string wire = t->wire_parameter_id(id).get<std::string>();
        REQUIRE_THAT(wire, Catch::StartsWith(bracket + "_" + std::to_string(round) + "_"));
        CHECK((*p)["TRIAL_BUDGET"] == r);
        const std::string counter = wire.substr(wire.rfind('_') + 1);
        counters.insert(counter);
        ranked.emplace_back((*p)["x"].get<double>(), counter);
        issued.emplace_back(id, *p);
      }
      // A promoted configuration keeps its counter: "0-4_0_7" goes on as "0-4_1_7".
      if (round > 0) CHECK(counters == promoted);
      for (const auto& [pid, p] : issued) t->receive_trial_result(pid, p, p["x"].get<double>());
      for (const auto& [pid, p] : issued) t->trial_end(pid, true);
      std::sort(ranked.rbegin(), ranked.rend());  // larger x is better
      promoted.clear();
      if (round + 1 < rounds.size())
        for (int k = 0; k < rounds[round + 1].first; ++k) promoted.insert(ranked[k].second);
    }
  }

  // Serial mode: the next bracket waits until the current one has started its last round.
  auto serial =
      nnilib::make_tuner("Hyperband", {{"R", 9}, {"eta", 3}, {"exec_mode", "serial"}}, space, 2);
  std::vector<std::pair<std::int64_t, json>> first;
  for (std::int64_t k = 0; k < 9; ++k) first.emplace_back(k, *serial->generate_parameters(k));
  CHECK_FALSE(serial->generate_parameters(9));  // waiting, not exhausted
  CHECK_FALSE(serial->exhausted());
  for (const auto& [pid, p] : first) {
    serial->receive_trial_result(pid, p, p["x"].get<double>());
    serial->trial_end(pid, true);
  }
  const auto next = serial->generate_parameters(9);
  REQUIRE(next);
  CHECK((*next)["TRIAL_BUDGET"] == 3);
  CHECK_THAT(serial->wire_parameter_id(9).get<std::string>(), Catch::StartsWith("0-2_1_"));
  // A round whose trials all failed promotes nothing (NNI would raise an IndexError).
  auto failing = nnilib::make_tuner("Hyperband", {{"R", 3}, {"eta", 3}}, space, 3);
  for (std::int64_t k = 0; k < 3; ++k) {
    REQUIRE(failing->generate_parameters(k));
    failing->trial_end(k, false);
  }
  const auto after = failing->generate_parameters(3);
  REQUIRE(after);
  CHECK_THAT(failing->wire_parameter_id(3).get<std::string>(), Catch::StartsWith("0-0_0_"));

  CHECK_THAT(error_of([&] {
               nnilib::make_tuner("Hyperband", {{"exec_mode", "fast"}}, space, 0);
             }),
             Catch::Contains("classArgs.exec_mode must be one of parallelism, serial"));
  CHECK_THAT(error_of([&] {
               nnilib::make_tuner("Hyperband", {{"eta", 1}}, space, 0);
             }),
             Catch::Contains("classArgs.eta"));
}

TEST_CASE("tuner BOHB: exec_mode parallelism starts the next bracket instead of idling") {
  const SearchSpace space = parse(R"({"x": {"_type": "uniform", "_value": [0, 1]}})");
  // min 1, max 9, eta 3 (the default experiment's): bracket 2 runs 9 for 1, 3 for 3, 1 for 9;
  // bracket 1 runs 5 for 3 (ceil(3 * 3 / 2)), then 1 for 9.
  auto t = nnilib::make_tuner("BOHB", {{"min_budget", 1}, {"max_budget", 9}}, space, 4);
  std::int64_t id = 0;
  std::vector<std::pair<std::int64_t, json>> round0;
  for (int k = 0; k < 9; ++k, ++id) round0.emplace_back(id, *t->generate_parameters(id));
  // All nine handed out and running: a free slot gets bracket 1's first configuration.
  auto extra = t->generate_parameters(id);
  REQUIRE(extra);
  CHECK_THAT(t->wire_parameter_id(id).get<std::string>(), Catch::StartsWith("1_0_"));
  CHECK((*extra)["TRIAL_BUDGET"].get<double>() == Approx(3));
  ++id;
  // Bracket 2's round ends: its three best go before bracket 1's four waiting ones.
  for (const auto& [pid, p] : round0) t->receive_trial_result(pid, p, p["x"].get<double>());
  for (const auto& [pid, p] : round0) t->trial_end(pid, true);
  for (int k = 0; k < 3; ++k, ++id) {
    REQUIRE(t->generate_parameters(id));
    CHECK_THAT(t->wire_parameter_id(id).get<std::string>(), Catch::StartsWith("2_1_"));
  }
  for (int k = 0; k < 4; ++k, ++id) {
    REQUIRE(t->generate_parameters(id));
    CHECK_THAT(t->wire_parameter_id(id).get<std::string>(), Catch::StartsWith("1_0_"));
  }
  // Ids stay unique across brackets (the counter runs over the experiment).
  std::set<std::string> ids;
  for (std::int64_t k = 0; k < id; ++k) ids.insert(t->wire_parameter_id(k).get<std::string>());
  CHECK(ids.size() == static_cast<std::size_t>(id));
  CHECK_THAT(error_of([&] {
               nnilib::make_tuner("BOHB", {{"exec_mode", "fast"}}, space, 0);
             }),
             Catch::Contains("classArgs.exec_mode"));
}

TEST_CASE("tuner BOHB: NNI's brackets one at a time, and its model beats random sampling") {
  const SearchSpace space = parse(R"({"x": {"_type": "uniform", "_value": [0, 1]},
                                      "y": {"_type": "choice", "_value": ["a", "b", "c"]}})");
  // min 1, max 27, eta 3: s_max 3; bracket 3 runs 27 configurations for 1, then 9 for 3,
  // 3 for 9, 1 for 27; ids "<s>_<round>_<counter>". exec_mode serial: NNI's rule.
  auto t = nnilib::make_tuner(
      "BOHB", {{"min_budget", 1}, {"max_budget", 27}, {"eta", 3}, {"exec_mode", "serial"}}, space,
      4);
  CHECK_FALSE(t->exhausted());
  const std::vector<std::pair<int, double>> rounds = {{27, 1}, {9, 3}, {3, 9}, {1, 27}};
  std::int64_t id = 0;
  for (std::size_t round = 0; round < rounds.size(); ++round) {
    INFO("round " << round);
    std::vector<std::pair<std::int64_t, json>> issued;
    for (int k = 0; k < rounds[round].first; ++k, ++id) {
      const auto p = t->generate_parameters(id);
      REQUIRE(p);
      CHECK((*p)["TRIAL_BUDGET"].get<double>() == Approx(rounds[round].second));
      CHECK_THAT(t->wire_parameter_id(id).get<std::string>(),
                 Catch::StartsWith("3_" + std::to_string(round) + "_"));
      issued.emplace_back(id, *p);
    }
    CHECK_FALSE(t->generate_parameters(id));  // one bracket at a time: the round must end
    for (const auto& [pid, p] : issued) t->receive_trial_result(pid, p, p["x"].get<double>());
    for (const auto& [pid, p] : issued) t->trial_end(pid, true);
  }
  const auto next = t->generate_parameters(id);  // bracket 2: 12 configurations for 3
  REQUIRE(next);
  CHECK(t->wire_parameter_id(id).get<std::string>().rfind("2_0_", 0) == 0);
  CHECK((*next)["TRIAL_BUDGET"].get<double>() == Approx(3));

  // The model: max_budget < eta * min_budget gives one configuration per bracket, so every
  // result updates the model before the next request.
  auto objective = [](const json& p) {
    const double x = p["x"].get<double>();
    return -(x - 0.8) * (x - 0.8) + (p["y"] == "b" ? 0.5 : 0.0);
  };
  auto run = [&](const std::string& name, const json& args) {
    auto tuner = nnilib::make_tuner(name, args, space, 9);
    double late = 0;
    for (std::int64_t k = 0; k < 80; ++k) {
      const auto p = tuner->generate_parameters(k);
      REQUIRE(p);
      const double v = objective(*p);
      if (k >= 60) late += v / 20;
      tuner->receive_trial_result(k, *p, v);
      tuner->trial_end(k, true);
    }
    return late;
  };
  const double bohb = run("BOHB", {{"min_budget", 1}, {"max_budget", 2}, {"seed", 3}});
  const double random = run("Random", {{"seed", 3}});
  INFO("BOHB mean of the last 20: " << bohb << ", Random: " << random);
  CHECK(bohb > random + 0.1);
  CHECK(bohb > 0.35);  // mostly y = b near x = 0.8 (optimum 0.5)

  CHECK_THAT(error_of([&] {
               nnilib::make_tuner("BOHB", {{"min_budget", 3}, {"max_budget", 3}}, space, 0);
             }),
             Catch::Contains("classArgs.max_budget must be larger than min_budget"));
  CHECK_THAT(error_of([&] {
               nnilib::make_tuner("BOHB", {{"top_n_percent", 100}}, space, 0);
             }),
             Catch::Contains("classArgs.top_n_percent"));
}

TEST_CASE(
    "tuner Hyperband, BOHB and ASHA: promotions continue checkpoints over the largest budget") {
  const SearchSpace space = parse(R"({"x": {"_type": "uniform", "_value": [0, 1]}})");
  CHECK(nnilib::make_tuner("Hyperband", {{"R", 9}, {"eta", 3}}, space, 0)->continued_budget() == 9);
  CHECK(nnilib::make_tuner("BOHB", {{"min_budget", 0.333333}, {"max_budget", 9}}, space, 0)
            ->continued_budget() == 9);
  CHECK(nnilib::make_tuner("ASHA", {{"R", 27}, {"eta", 3}}, space, 0)->continued_budget() == 27);
  CHECK(nnilib::make_tuner("TPE", json::object(), space, 0)->continued_budget() == 0);
  // A fractional first rung: 1/3, 1, 3, 9 epochs (s_max 3: 27 configurations first).
  auto t = nnilib::make_tuner("BOHB", {{"min_budget", 1.0 / 3}, {"max_budget", 9}}, space, 1);
  const auto p = t->generate_parameters(0);
  REQUIRE(p);
  CHECK((*p)["TRIAL_BUDGET"].get<double>() == Approx(1.0 / 3));
}

TEST_CASE("tuner BOHB: imported results (resume, warm start) build its model, by budget") {
  const SearchSpace space = parse(R"({"x": {"_type": "uniform", "_value": [0, 1]},
                                      "y": {"_type": "choice", "_value": ["a", "b", "c"]}})");
  // Earlier results at budget 9: the good ones have y = b and x near 0.8. Every new
  // configuration of a tuner that imported them comes from the model (random_fraction
  // 0), so it keeps to that corner; without them it samples at random.
  std::vector<nnilib::ImportedTrial> earlier;
  nnilib::SpaceRng rng(5);
  for (int k = 0; k < 40; ++k) {
    json p = space.sample(rng);
    const double x = p["x"].get<double>();
    p["TRIAL_BUDGET"] = 9;
    earlier.push_back({p, -(x - 0.8) * (x - 0.8) + (p["y"] == "b" ? 0.5 : 0.0)});
  }
  earlier.push_back({{{"x", 0.5}, {"z", 1}}, 0.99});  // outside this space: skipped
  const auto share_b = [&](bool imported) {
    auto t = nnilib::make_tuner(
        "BOHB", {{"min_budget", 1}, {"max_budget", 9}, {"random_fraction", 0}, {"seed", 2}}, space,
        2);
    if (imported) t->import_data(earlier);
    int b = 0;
    for (std::int64_t id = 0; id < 9; ++id) {
      const auto p = t->generate_parameters(id);
      REQUIRE(p);
      b += (*p)["y"] == "b";
    }
    return b;
  };
  CHECK(share_b(true) >= 8);
  CHECK(share_b(false) <= 6);
}

TEST_CASE("tuner registry: every embedded tuner by name, and a program's own tuner") {
  const auto space =
      SearchSpace::parse(json::parse(R"({"x": {"_type": "uniform", "_value": [0, 1]}})"));
  for (const nnilib::TunerEntry& e : nnilib::tuner_registry()) {
    INFO(e.name);
    CHECK(!e.summary.empty());
    CHECK(std::find(e.class_args.begin(), e.class_args.end(), "optimize_mode") !=
          e.class_args.end());
    std::string lower = e.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(nnilib::find_tuner(lower) == &e);
    const auto tuner = nnilib::make_tuner(e.name, nullptr, space, 1);
    CHECK(tuner->name() == e.name);
    // An unknown key names the tuner and lists what it accepts.
    CHECK_THROWS_WITH(nnilib::make_tuner(e.name, {{"no_such_key", 1}}, space, 1),
                      Catch::Contains(e.name) && Catch::Contains("no_such_key") &&
                          Catch::Contains(e.class_args.back()));
  }
  CHECK(nnilib::embedded_tuner_list() ==
        "TPE, Random, GridSearch, Evolution, Hyperband, BOHB, ASHA");
  // Each tuner says which way it optimizes: its classArgs, any case, else its default.
  CHECK(nnilib::make_tuner("TPE", nullptr, space, 1)->optimize_mode() ==
        nnilib::OptimizeMode::kMinimize);
  CHECK(nnilib::make_tuner("tpe", {{"optimize_mode", "Maximize"}}, space, 1)->optimize_mode() ==
        nnilib::OptimizeMode::kMaximize);
  CHECK(nnilib::make_tuner("ASHA", {{"optimize_mode", "minimize"}}, space, 1)->optimize_mode() ==
        nnilib::OptimizeMode::kMinimize);
  CHECK(!nnilib::make_tuner("Random", nullptr, space, 1)->optimize_mode());
  CHECK(nnilib::make_tuner("GridSearch", {{"optimize_mode", "minimize"}}, space, 1)
            ->optimize_mode() == nnilib::OptimizeMode::kMinimize);

  // A program's own tuner: found by name, in the error lists, its name taken.
  struct Constant : nnilib::Tuner {
    std::string name() const override { return "Constant"; }
    std::optional<json> generate_parameters(std::int64_t) override { return json{{"x", 0.5}}; }
    void receive_trial_result(std::int64_t, const json&, double) override {}
  };
  nnilib::register_tuner({"Constant",
                          "always x = 0.5",
                          {"optimize_mode"},
                          [](const json&, const SearchSpace&, std::uint64_t) {
                            return std::make_unique<Constant>();
                          }});
  CHECK(nnilib::make_tuner("constant", nullptr, space, 1)->generate_parameters(0) ==
        json{{"x", 0.5}});
  CHECK_THROWS_WITH(nnilib::make_tuner("Nope", nullptr, space, 1),
                    Catch::EndsWith("embedded tuners: TPE, Random, GridSearch, Evolution, "
                                    "Hyperband, BOHB, ASHA, Constant"));
  CHECK_THROWS_WITH(nnilib::register_tuner({"tpe", "", {}, nnilib::tuner_registry()[0].make}),
                    "register_tuner: the name tpe is taken by tuner TPE");
  CHECK_THROWS_WITH(nnilib::register_tuner({"NoFactory", "", {}, nullptr}),
                    "register_tuner: tuner NoFactory has no factory");
}
