// A resumable training checkpoint (private to the trainer; torch). Written at the end
// of an epoch, or where a budget ends inside one, it holds everything the next batch
// depends on: the weights and batch-norm statistics, the optimizer's state, the
// schedule position, the random generators' state, the unfinished epoch's shuffle and
// sums, and the curve so far. A run trained in pieces from checkpoints is the same run
// as one trained straight through.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/model/model.h"

namespace nnilib {

/// What a checkpoint holds besides the tensors.
struct CheckpointMeta {
  /// What must match to continue: the parameters (without the budget), the seed, the
  /// split sizes, the batch size and the schedule's length in steps.
  nlohmann::json identity;
  int epoch = 0;     ///< epochs completed
  int64_t step = 0;  ///< optimizer steps taken (the schedule's position)
  nlohmann::json curve = nlohmann::json::array();  ///< EpochStats of the epochs so far
  /// Inside epoch `epoch + 1` (0: at its start): the batches done, the epoch's shuffle
  /// and the sums its training figures come from.
  int64_t position = 0;
  int64_t seen = 0;
  torch::Tensor perm, loss_sum, correct;
};

/// The precision a checkpoint was trained in ("fp32", "bf16"), without loading its
/// tensors; nullopt when the file holds none (or is not a checkpoint: loading it says
/// why).
std::optional<std::string> checkpoint_precision(const std::string& path);

/// Writes the checkpoint atomically (IoError on failure; the previous one stays), with
/// the averaged weights `average` when the run keeps an average (weight_average.h).
void save_checkpoint(const std::string& path, const CheckpointMeta& meta, Cnn& model,
                     torch::optim::Optimizer& optimizer, const torch::Device& device,
                     const std::vector<torch::Tensor>* average = nullptr);

/// Reads a checkpoint into `model` and `optimizer` (built as for a fresh run, on
/// `device`), restores the random generators and returns its meta. Throws
/// ParamError("<path>: ...") when the file is missing, corrupt, not a checkpoint, or
/// made for another run (`identity` differs: the message names the first key). With
/// `average`, the averaged weights are read into its tensors (their shapes checked).
CheckpointMeta load_checkpoint(const std::string& path, const nlohmann::json& identity, Cnn& model,
                               torch::optim::Optimizer& optimizer, const torch::Device& device,
                               std::vector<torch::Tensor>* average = nullptr);

}  // namespace nnilib
