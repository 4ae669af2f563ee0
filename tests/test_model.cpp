// The LibTorch CNN: every architecture of the seed's space builds and maps a batch to
// [B, 10]; parameter and MAC counts match a hand count.
#include <catch2/catch.hpp>

#include "nnilib/model.h"
#include "nnilib/params.h"

using nlohmann::json;

namespace {

nnilib::TrialSpec seed_arch(int f1, int k1, int f2, int k2, int units) {
  return nnilib::trial_spec_from_parameters(json{{"filter_size_c1", f1},
                                                 {"kernel_size_c1", k1},
                                                 {"filter_size_c2", f2},
                                                 {"kernel_size_c2", k2},
                                                 {"nb_units", units}});
}

}  // namespace

TEST_CASE("all 108 architectures of the seed's space build and map a batch to [B, 10]") {
  torch::manual_seed(0);
  const torch::Tensor batch = torch::randn({3, 1, 28, 28});
  int built = 0;
  for (int f1 : {32, 64, 128})
    for (int k1 : {3, 5})
      for (int f2 : {32, 64, 128})
        for (int k2 : {3, 5})
          for (int units : {80, 100, 120}) {
            const auto spec = seed_arch(f1, k1, f2, k2, units);
            nnilib::Cnn model(spec.model);
            const torch::Tensor out = model->forward(batch);
            INFO(nnilib::describe(spec.model));
            REQUIRE(out.sizes() == torch::IntArrayRef({3, 10}));
            CHECK(nnilib::count_parameters(*model) == nnilib::estimate_cost(spec.model).params);
            ++built;
          }
  CHECK(built == 108);
}

TEST_CASE("parameter and MAC counts match a hand count") {
  SECTION("smallest: 32/3, 64/3, 80 units") {
    // conv1 1->32 k3: 320 params, 26*26*32*9 MACs; conv2 32->64 k3: 18,496 params,
    // 24*24*64*32*9 MACs; pool -> 12*12*64 = 9,216; fc 9216->80: 737,360; fc 80->10: 810.
    const auto spec = seed_arch(32, 3, 64, 3, 80);
    const auto cost = nnilib::estimate_cost(spec.model);
    CHECK(cost.params == 320 + 18496 + 737360 + 810);
    CHECK(cost.macs == 194688 + 10616832 + 737280 + 800);
    nnilib::Cnn model(spec.model);
    CHECK(nnilib::count_parameters(*model) == 756986);
  }
  SECTION("largest: 128/5, 128/5, 120 units") {
    // conv1 1->128 k5: 3,328 params, 24*24*128*25 MACs; conv2 128->128 k5: 409,728 params,
    // 20*20*128*128*25 MACs; pool -> 10*10*128 = 12,800; fc 12800->120: 1,536,120; fc 120->10: 1,210.
    const auto spec = seed_arch(128, 5, 128, 5, 120);
    const auto cost = nnilib::estimate_cost(spec.model);
    CHECK(cost.params == 3328 + 409728 + 1536120 + 1210);
    CHECK(cost.macs == 1843200 + 163840000 + 1536000 + 1200);
    nnilib::Cnn model(spec.model);
    CHECK(nnilib::count_parameters(*model) == 1950386);
  }
}

TEST_CASE("a feature map that would shrink below 1x1 is a clear error") {
  nnilib::ModelSpec spec;
  spec.blocks = {{32, 5}, {32, 5}, {32, 5}, {32, 5}, {32, 5}, {32, 5}, {32, 5}};
  CHECK_THROWS_WITH(nnilib::Cnn(spec), Catch::Contains("conv block 7: kernel 5 does not fit its 4x4 input"));
}
