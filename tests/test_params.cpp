// Trial parameters: the seed's names, defaults, TRIAL_BUDGET, and every kind of rejection.
#include <catch2/catch.hpp>

#include "nnilib/error.h"
#include "nnilib/params.h"
#include "nnilib/space.h"

using nlohmann::json;
using nnilib::ParamError;
using nnilib::trial_spec_from_parameters;

namespace {

std::string error_of(const json& params) {
  try {
    trial_spec_from_parameters(params);
  } catch (const ParamError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("defaults are the seed's middle choices and build the seed's CNN") {
  const nnilib::TrialSpec spec = trial_spec_from_parameters(json::object());
  REQUIRE(spec.model.blocks.size() == 2);
  CHECK(spec.model.blocks[0].out_channels == 64);
  CHECK(spec.model.blocks[0].kernel_size == 3);
  CHECK(spec.model.blocks[0].padding == 0);
  CHECK(spec.model.blocks[0].pool == nnilib::Pool::kNone);
  CHECK(spec.model.blocks[1].pool == nnilib::Pool::kMax);
  CHECK(spec.model.hidden_units == 100);
  CHECK(spec.hyper.optimizer == "adam");
  CHECK(spec.hyper.learning_rate == 0.001);
  CHECK(spec.hyper.batch_size == 64);
  CHECK(spec.hyper.epochs == 10);
  CHECK(nnilib::describe(spec.model) ==
        "conv64k3 relu > conv64k3 relu maxpool2 > fc100 relu > fc10");
  CHECK(spec.parameters.size() == nnilib::parameter_table().size());
}

TEST_CASE("the seed's parameter names are applied") {
  const auto spec = trial_spec_from_parameters(json{{"filter_size_c1", 32},
                                                    {"filter_size_c2", 128},
                                                    {"kernel_size_c1", 5},
                                                    {"kernel_size_c2", 3},
                                                    {"nb_units", 120},
                                                    {"learning_rate", 0.0042},
                                                    {"batch_size", 32},
                                                    {"epochs", 3}});
  CHECK(spec.model.blocks[0].out_channels == 32);
  CHECK(spec.model.blocks[1].out_channels == 128);
  CHECK(spec.model.blocks[0].kernel_size == 5);
  CHECK(spec.model.blocks[1].kernel_size == 3);
  CHECK(spec.model.hidden_units == 120);
  CHECK(spec.hyper.learning_rate == 0.0042);
  CHECK(spec.hyper.batch_size == 32);
  CHECK(spec.hyper.epochs == 3);
}

TEST_CASE("integral floats from tuners are accepted for integer parameters") {
  const auto spec = trial_spec_from_parameters(json{{"nb_units", 80.0}, {"batch_size", 128.0}});
  CHECK(spec.model.hidden_units == 80);
  CHECK(spec.parameters["nb_units"].is_number_integer());
}

TEST_CASE("TRIAL_BUDGET sets the epochs") {
  CHECK(trial_spec_from_parameters(json{{"TRIAL_BUDGET", 3}}).hyper.epochs == 3);
  CHECK(trial_spec_from_parameters(json{{"TRIAL_BUDGET", 3.33}}).hyper.epochs == 4);
  CHECK(trial_spec_from_parameters(json{{"TRIAL_BUDGET", 0.2}, {"epochs", 7}}).hyper.epochs == 1);
  CHECK(trial_spec_from_parameters(json{{"TRIAL_BUDGET", 27.0}}).parameters["epochs"] == 27);
  CHECK_THAT(error_of(json{{"TRIAL_BUDGET", -1}}),
             Catch::Contains("\"TRIAL_BUDGET\" must be a positive number, got -1"));
  CHECK_THAT(error_of(json{{"TRIAL_BUDGET", "10"}}), Catch::Contains("TRIAL_BUDGET"));
}

TEST_CASE("each kind of bad parameter is rejected with what is accepted") {
  SECTION("unknown name lists the accepted names") {
    const std::string e = error_of(json{{"filter_size_c3", 32}});
    CHECK_THAT(
        e, Catch::StartsWith("unknown parameter \"filter_size_c3\" (accepted: filter_size_c1, "));
    CHECK_THAT(e, Catch::Contains("learning_rate") && Catch::Contains("TRIAL_BUDGET"));
  }
  SECTION("a value outside the choices lists them") {
    CHECK(error_of(json{{"filter_size_c1", 48}}) ==
          "parameter \"filter_size_c1\" = 48 is not one of 32, 64, 128");
    CHECK(error_of(json{{"kernel_size_c2", 7}}) ==
          "parameter \"kernel_size_c2\" = 7 is not one of 3, 5");
  }
  SECTION("a value out of its range gives the range") {
    CHECK(error_of(json{{"learning_rate", 2.5}}) ==
          "parameter \"learning_rate\" = 2.5 is out of range [1e-06, 1]");
    CHECK(error_of(json{{"batch_size", 0}}) ==
          "parameter \"batch_size\" = 0 is out of range [1, 4096]");
    CHECK(error_of(json{{"epochs", -3}}) == "parameter \"epochs\" = -3 is out of range [1, 1000]");
  }
  SECTION("a value of the wrong type names the type") {
    CHECK(
        error_of(json{{"nb_units", "100"}}) ==
        "parameter \"nb_units\" must be an integer, got \"100\" (string); accepted: 80, 100, 120");
    CHECK(error_of(json{{"learning_rate", true}}) ==
          "parameter \"learning_rate\" must be a number, got true (boolean); accepted: [1e-06, 1]");
    CHECK_THAT(error_of(json{{"nb_units", json::array({100})}}), Catch::Contains("(array)"));
    CHECK(error_of(json{{"nb_units", 100.5}}) ==
          "parameter \"nb_units\" must be an integer, got 100.5; accepted: 80, 100, 120");
  }
  SECTION("parameters that are not an object") {
    CHECK_THAT(error_of(json::array({1, 2})),
               Catch::StartsWith("parameters must be a JSON object, got array"));
  }
}

TEST_CASE("every sample of the shipped search_space.json is accepted by the trial") {
  const nnilib::SearchSpace space =
      nnilib::SearchSpace::load(std::string(NNILIB_SOURCE_DIR) + "/search_space.json");
  nnilib::SpaceRng rng(11);
  for (int i = 0; i < 300; ++i) {
    const json params = space.sample(rng);
    INFO(params.dump());
    const auto spec = trial_spec_from_parameters(params);
    CHECK(spec.hyper.learning_rate >= 0.001);
    CHECK(spec.hyper.learning_rate <= 0.01);
  }
}
