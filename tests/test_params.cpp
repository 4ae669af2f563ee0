// Trial parameters: the seed's names, defaults, TRIAL_BUDGET, and every kind of rejection.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "nnilib/common/error.h"
#include "nnilib/common/trial_budget.h"
#include "nnilib/model/block_kind.h"
#include "nnilib/model/params.h"
#include "nnilib/space/space.h"

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
  CHECK(spec.seed_model);
  CHECK(spec.hyper.optimizer == nnilib::Optimizer::kAdam);
  CHECK(spec.hyper.schedule == nnilib::Schedule::kConstant);
  CHECK_FALSE(spec.hyper.augmentation.any());
  CHECK(spec.hyper.learning_rate == 0.001);
  CHECK(spec.hyper.batch_size == 64);
  CHECK(spec.hyper.epochs == 10);
  CHECK(nnilib::describe(spec.model) ==
        "conv64k3 relu > conv64k3 relu maxpool2 > fc100 relu > fc10");
  // The seed's five names and the eleven training names, nothing of the model space.
  CHECK(spec.parameters.size() == 16);
  CHECK(spec.parameters["nb_units"] == 100);
  CHECK_FALSE(spec.parameters.contains("num_blocks"));
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

TEST_CASE("TRIAL_BUDGET sets the epochs, a fraction of one included") {
  const auto hyper = [](const json& p) { return trial_spec_from_parameters(p).hyper; };
  CHECK(hyper(json{{"TRIAL_BUDGET", 3}}).epochs == 3);
  CHECK(hyper(json{{"TRIAL_BUDGET", 3}}).budget_epochs == 0);  // whole epochs
  CHECK(hyper(json{{"TRIAL_BUDGET", 3.0}}).budget_epochs == 0);
  CHECK(hyper(json{{"TRIAL_BUDGET", 3.33}}).epochs == 4);
  CHECK(hyper(json{{"TRIAL_BUDGET", 3.33}}).budget_epochs == 3.33);
  CHECK(hyper(json{{"TRIAL_BUDGET", 0.2}, {"epochs", 7}}).epochs == 1);
  CHECK(hyper(json{{"TRIAL_BUDGET", 0.2}, {"epochs", 7}}).budget_epochs == 0.2);
  CHECK(hyper(json{{"epochs", 7}}).budget_epochs == 0);
  CHECK(trial_spec_from_parameters(json{{"TRIAL_BUDGET", 27.0}}).parameters["epochs"] == 27);
  CHECK_THAT(error_of(json{{"TRIAL_BUDGET", -1}}),
             Catch::Contains("\"TRIAL_BUDGET\" must be a positive number of epochs up to 1000, "
                             "got -1"));
  CHECK_THAT(error_of(json{{"TRIAL_BUDGET", 1e9}}),
             Catch::Contains("up to 1000, got 1000000000.0"));
  CHECK_THAT(error_of(json{{"TRIAL_BUDGET", "10"}}), Catch::Contains("TRIAL_BUDGET"));
}

TEST_CASE("NNI's TRIAL_BUDGET vocabulary: the budget, the configuration without it, epochs") {
  CHECK(nnilib::trial_budget(json{{"TRIAL_BUDGET", 2.5}, {"lr", 0.1}}) == 2.5);
  CHECK(nnilib::trial_budget(json{{"lr", 0.1}}) == 0);  // not multi-fidelity
  CHECK(nnilib::trial_budget(json{{"TRIAL_BUDGET", -1}}) == 0);
  CHECK(nnilib::trial_budget(json{{"TRIAL_BUDGET", "3"}}) == 0);
  CHECK(nnilib::trial_budget(json::array({1, 2})) == 0);
  CHECK(nnilib::configuration_of(json{{"TRIAL_BUDGET", 3}, {"lr", 0.1}}) == json{{"lr", 0.1}});
  CHECK(nnilib::configuration_of(json{{"lr", 0.1}}) == json{{"lr", 0.1}});
  CHECK(nnilib::budget_epochs(2.5) == 3);
  CHECK(nnilib::budget_epochs(3) == 3);
  CHECK(nnilib::budget_epochs(3.0000000001) == 3);  // a tuner's rounding is not an epoch
  CHECK(nnilib::budget_epochs(0.1) == 1);
  CHECK(nnilib::budget_epochs(1e9) == 1000);  // kMaxBudgetEpochs
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

TEST_CASE("every sample of the seed's search space (examples/seed) builds the seed's model") {
  const nnilib::SearchSpace space = nnilib::SearchSpace::load(std::string(NNILIB_SOURCE_DIR) +
                                                              "/examples/seed/search_space.json");
  nnilib::SpaceRng rng(11);
  for (int i = 0; i < 300; ++i) {
    const json params = space.sample(rng);
    INFO(params.dump());
    const auto spec = trial_spec_from_parameters(params);
    CHECK(spec.seed_model);
    CHECK(spec.hyper.learning_rate >= 0.001);
    CHECK(spec.hyper.learning_rate <= 0.01);
  }
}

TEST_CASE("every sample of the default search_space.json is accepted as a model-space point") {
  const nnilib::SearchSpace space =
      nnilib::SearchSpace::load(std::string(NNILIB_SOURCE_DIR) + "/search_space.json");
  nnilib::SpaceRng rng(12);
  for (int i = 0; i < 1000; ++i) {
    const json params = space.sample(rng);
    INFO(params.dump());
    const auto spec = trial_spec_from_parameters(params);
    CHECK_FALSE(spec.seed_model);
  }
}

TEST_CASE("model space: defaults") {
  const auto spec = trial_spec_from_parameters(json{{"num_blocks", 3}});
  CHECK_FALSE(spec.seed_model);
  REQUIRE(spec.model.blocks.size() == 3);
  CHECK(nnilib::describe(spec.model) ==
        "conv32k3p1 bn relu maxpool2 > conv64k3p1 bn relu maxpool2 > conv128k3p1 bn relu maxpool2 "
        "> gap > fc10");
  CHECK(spec.parameters["conv3_channels"] == 128);
  CHECK(spec.parameters["conv3_type"] == "plain");
  CHECK_FALSE(spec.parameters.contains("conv4_channels"));
  CHECK_FALSE(spec.parameters.contains("nb_units"));
}

TEST_CASE("model space: model-wide values and per-block overrides") {
  const auto spec = trial_spec_from_parameters(json{{"num_blocks", 2},
                                                    {"block_type", "residual"},
                                                    {"activation", "gelu"},
                                                    {"kernel_size", 5},
                                                    {"batch_norm", false},
                                                    {"pool", "avg"},
                                                    {"conv1_type", "separable"},
                                                    {"conv1_channels", 24},
                                                    {"conv2_kernel", 3},
                                                    {"conv2_pool", "none"},
                                                    {"conv2_activation", "silu"},
                                                    {"conv4_channels", 99},  // beyond num_blocks
                                                    {"head", "flatten"},
                                                    {"hidden_units", 64},
                                                    {"dropout", 0.25}});
  REQUIRE(spec.model.blocks.size() == 2);
  const auto& b1 = spec.model.blocks[0];
  const auto& b2 = spec.model.blocks[1];
  CHECK(b1.kind == "separable");
  CHECK(b1.out_channels == 24);
  CHECK(b1.kernel_size == 5);
  CHECK(b1.padding == 2);
  CHECK_FALSE(b1.batch_norm);
  CHECK(b1.activation == nnilib::Activation::kGelu);
  CHECK(b1.pool == nnilib::Pool::kAvg);
  CHECK(b2.kind == "residual");
  CHECK(b2.out_channels == 64);
  CHECK(b2.kernel_size == 3);
  CHECK(b2.pool == nnilib::Pool::kNone);
  CHECK(b2.activation == nnilib::Activation::kSilu);
  CHECK(spec.model.head == nnilib::Head::kFlatten);
  CHECK(spec.model.hidden_units == 64);
  CHECK(spec.model.hidden_activation == nnilib::Activation::kGelu);
  CHECK(spec.model.dropout == 0.25);
  CHECK_FALSE(spec.parameters.contains("conv4_channels"));  // ignored: block 4 does not exist
}

TEST_CASE("model space: training parameters") {
  const auto spec = trial_spec_from_parameters(json{{"optimizer", "sgd"},
                                                    {"learning_rate", 0.05},
                                                    {"momentum", 0.85},
                                                    {"weight_decay", 5e-4},
                                                    {"schedule", "one_cycle"},
                                                    {"label_smoothing", 0.1},
                                                    {"augment_crop", 2},
                                                    {"augment_flip", true},
                                                    {"augment_erasing", 0.3}});
  CHECK(spec.seed_model);  // training names alone keep the seed's model
  CHECK(spec.hyper.optimizer == nnilib::Optimizer::kSgd);
  CHECK(spec.hyper.momentum == 0.85);
  CHECK(spec.hyper.weight_decay == 5e-4);
  CHECK(spec.hyper.schedule == nnilib::Schedule::kOneCycle);
  CHECK(spec.hyper.label_smoothing == 0.1);
  CHECK(spec.hyper.augmentation.crop_padding == 2);
  CHECK(spec.hyper.augmentation.flip);
  CHECK(spec.hyper.augmentation.erasing == 0.3);
}

TEST_CASE("model space: nested choices in NNI's shape are expanded") {
  const json params = json::parse(R"({
    "num_blocks": 2,
    "conv1": {"_name": "residual", "channels": 48, "kernel": 5},
    "conv2": {"_name": "separable", "pool": "none"},
    "optimizer": {"_name": "adamw", "learning_rate": 0.002, "weight_decay": 0.05},
    "block_type": {"_name": "plain", "activation": "leaky_relu"}
  })");
  const json flat = nnilib::flatten_parameters(params);
  CHECK(flat["conv1_type"] == "residual");
  CHECK(flat["conv1_channels"] == 48);
  CHECK(flat["conv2_pool"] == "none");
  CHECK(flat["optimizer"] == "adamw");
  CHECK(flat["weight_decay"] == 0.05);
  CHECK(flat["activation"] == "leaky_relu");
  const auto spec = trial_spec_from_parameters(params);
  CHECK(spec.model.blocks[0].kind == "residual");
  CHECK(spec.model.blocks[0].out_channels == 48);
  CHECK(spec.model.blocks[0].kernel_size == 5);
  CHECK(spec.model.blocks[1].kind == "separable");
  CHECK(spec.model.blocks[1].activation == nnilib::Activation::kLeakyRelu);
  CHECK(spec.hyper.optimizer == nnilib::Optimizer::kAdamW);
  CHECK(spec.hyper.learning_rate == 0.002);
}

TEST_CASE("model space: each rejection names the culprit") {
  CHECK(error_of(json{{"activation", "tanh"}}) ==
        "parameter \"activation\" = \"tanh\" is not one of \"relu\", \"gelu\", \"silu\", "
        "\"leaky_relu\"");
  CHECK(error_of(json{{"batch_norm", 1}}) ==
        "parameter \"batch_norm\" must be true or false, got 1 (integer)");
  CHECK(error_of(json{{"conv7_channels", 32}}) ==
        "parameter \"conv7_channels\": block 7 does not exist (blocks are conv1 to conv5)");
  CHECK(error_of(json{{"conv2_channels", 2}}) ==
        "parameter \"conv2_channels\" = 2 is out of range [4, 512]");
  CHECK(error_of(json{{"conv2_kernel", 4}}) ==
        "parameter \"conv2_kernel\" = 4 is not one of 1, 3, 5, 7");
  CHECK_THAT(error_of(json{{"conv2_width", 4}}),
             Catch::StartsWith("unknown parameter \"conv2_width\""));
  CHECK(error_of(json{{"nb_units", 100}, {"num_blocks", 2}}) ==
        "parameter \"nb_units\" (the seed's model) cannot be combined with \"num_blocks\" (the "
        "model space); use the names of one model");
  CHECK(error_of(
            json::parse(R"({"conv1": {"_name": "plain", "channels": 8}, "conv1_channels": 8})")) ==
        "parameter \"conv1_channels\" is given twice (in nested choice \"conv1\" and at the top "
        "level); give each name once");
  CHECK_THAT(error_of(json::parse(R"({"conv1": {"channels": 8}})")),
             Catch::StartsWith("parameter \"conv1\" is an object without a string \"_name\""));
  std::string kinds;  // the registry's, in its order
  for (const nnilib::BlockKind& k : nnilib::block_kinds())
    kinds += (kinds.empty() ? "\"" : ", \"") + k.name + "\"";
  CHECK_THAT(kinds, Catch::StartsWith("\"plain\", \"residual\", \"separable\""));
  CHECK(error_of(json::parse(R"({"conv1": {"_name": "dense"}})")) ==
        "parameter \"conv1_type\" = \"dense\" is not one of " + kinds);
  CHECK(error_of(json{{"optimizer", "rmsprop"}}) ==
        "parameter \"optimizer\" = \"rmsprop\" is not one of \"adam\", \"adamw\", \"sgd\"");
  CHECK(error_of(json{{"dropout", 0.95}}) ==
        "parameter \"dropout\" = 0.95 is out of range [0, 0.9]");
  // Five 2x2 poolings: 28 -> 14 -> 7 -> 3 -> 1 -> nothing.
  CHECK(error_of(json{{"num_blocks", 5}}) ==
        "conv block 5: max pooling 2 does not fit its 1x1 input (the feature map would shrink "
        "below 1x1)");
}

TEST_CASE("docs/search-space.md documents every accepted parameter") {
  std::ifstream in(std::string(NNILIB_SOURCE_DIR) + "/docs/search-space.md");
  REQUIRE(in);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const nnilib::ParamInfo& p : nnilib::parameter_table()) {
    INFO(p.name);
    CHECK(doc.find("`" + p.name + "`") != std::string::npos);
  }
}
