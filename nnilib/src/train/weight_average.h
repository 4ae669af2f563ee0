// An exponential moving average of a model's weights (private to the trainer; torch).
// After every optimizer step each float parameter and buffer (batch-norm statistics
// included) moves towards the model's: avg = d * avg + (1 - d) * w, with the decay
// warmed up as d = min(decay, (1 + n) / (10 + n)) after n steps, so the first steps'
// random weights fade at once. The averaged weights are what the run evaluates and
// saves (TrainOptions::ema_epochs).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "nnilib/model/model.h"

namespace nnilib {

class WeightAverage {
 public:
  /// Starts the average at the model's current weights.
  WeightAverage(Cnn& model, double decay);

  /// One step's update; `steps` counts the optimizer steps taken, this one included.
  void update(int64_t steps);

  /// Exchanges the model's weights with the average (two copies per tensor): calling it
  /// again exchanges them back. The optimizer keeps its parameters (their values move).
  void swap();

  /// The averaged tensors in the model's order of float parameters, then float buffers
  /// (what a checkpoint saves and restores).
  std::vector<torch::Tensor>& tensors() { return average_; }

  /// The decay `update` uses after `steps` steps.
  static double decay_at(double decay, int64_t steps);

 private:
  double decay_;
  // The model's parameters and float buffers themselves, detached at each use: loading
  // a checkpoint gives them new storage (Module::load), which a view taken once would miss.
  std::vector<torch::Tensor> live_;
  std::vector<torch::Tensor> average_;  // their averages, the same shapes and layouts
};

}  // namespace nnilib
