// Training on real Fashion-MNIST subsets: it learns, and it is deterministic for a seed.
#include <catch2/catch.hpp>

#include "nnilib/data.h"
#include "nnilib/trainer.h"
#include "test_util.h"

using nlohmann::json;

namespace {

nnilib::FashionMnist subset() {
  nnilib::DataOptions opt;
  opt.dir = testutil::data_dir();
  opt.val_size = 1000;
  opt.train_size = 2000;
  opt.test_size = 500;
  return nnilib::load_fashion_mnist(opt);
}

struct Recorder : nnilib::TrainObserver {
  std::vector<nnilib::EpochStats> epochs;
  int stop_after_batches = -1;
  int batches = 0;
  void on_epoch(const nnilib::EpochStats& e) override { epochs.push_back(e); }
  bool stop_requested() override { return stop_after_batches >= 0 && batches++ >= stop_after_batches; }
};

nnilib::TrainOptions options() {
  nnilib::TrainOptions o;
  o.device = "cpu";
  o.seed = 5;
  return o;
}

}  // namespace

TEST_CASE("one epoch on 2,000 real images reaches over 70% on 1,000 held-out images") {
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 1}});
  Recorder rec;
  const auto r = nnilib::train(spec, data, options(), rec);
  REQUIRE(r.curve.size() == 1);
  CHECK(rec.epochs.size() == 1);
  CHECK(r.start.train_size == 2000);
  CHECK(r.start.val_size == 1000);
  CHECK(r.final_val_accuracy > 0.70);
  CHECK(r.test_accuracy > 0.65);
  CHECK(r.curve[0].train_loss > 0);
  CHECK(r.curve[0].images_per_second > 0);
  CHECK_FALSE(r.interrupted);
  const json s = nnilib::summary_json(spec, r);
  CHECK(s["curve"].size() == 1);
  CHECK(s["params"] == 960278);
  CHECK(s["test_accuracy"].get<double>() == r.test_accuracy);
}

TEST_CASE("the same seed gives the same losses twice") {
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(
      json{{"epochs", 2}, {"filter_size_c1", 32}, {"filter_size_c2", 32}, {"nb_units", 80}});
  Recorder a, b;
  const auto ra = nnilib::train(spec, data, options(), a);
  const auto rb = nnilib::train(spec, data, options(), b);
  REQUIRE(ra.curve.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(ra.curve[i].train_loss == rb.curve[i].train_loss);
    CHECK(ra.curve[i].val_loss == rb.curve[i].val_loss);
    CHECK(ra.curve[i].val_accuracy == rb.curve[i].val_accuracy);
  }
  auto other = options();
  other.seed = 6;
  Recorder c;
  const auto rc = nnilib::train(spec, data, other, c);
  CHECK(rc.curve[0].train_loss != ra.curve[0].train_loss);
}

TEST_CASE("a stop request ends training at the next batch without a test evaluation") {
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 3}});
  Recorder rec;
  rec.stop_after_batches = 40;  // 2,000 images / 64 = 32 batches per epoch: stops in epoch 2
  const auto r = nnilib::train(spec, data, options(), rec);
  CHECK(r.interrupted);
  CHECK(r.curve.size() == 1);
  CHECK(r.test_accuracy < 0);
}

TEST_CASE("a diverging loss stops the run with a clear error") {
  const auto data = subset();
  // A learning rate this large drives Adam's weights to infinity within a few batches.
  auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 1}});
  spec.hyper.learning_rate = 1e30;
  Recorder rec;
  CHECK_THROWS_WITH(nnilib::train(spec, data, options(), rec),
                    Catch::StartsWith("training diverged: loss is") && Catch::Contains("learning_rate"));
}

TEST_CASE("an unavailable device is a usage error") {
  if (torch::cuda::is_available()) return;
  const auto data = subset();
  const auto spec = nnilib::trial_spec_from_parameters(json{{"epochs", 1}});
  auto o = options();
  o.device = "cuda";
  Recorder rec;
  CHECK_THROWS_WITH(nnilib::train(spec, data, o, rec), Catch::Contains("CUDA is not available"));
  o.device = "tpu";
  CHECK_THROWS_WITH(nnilib::train(spec, data, o, rec), Catch::Contains("unknown device"));
}
