// Block kinds: what a convolution block of a ModelSpec computes, registered by name as
// tuners are. A kind lays its block out as a chain of convolution units with the block's
// activation between them, an optional skip connection and a last activation; the cost
// estimate, the description and the LibTorch model (model.h) all read that layout, so a
// new kind is one source file in nnilib/src/model/blocks/ and one line in the registry
// (docs/architecture.md "A new block kind"). Free of LibTorch.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nnilib/model/model_spec.h"

namespace nnilib {

/// One convolution of a block: k x k in `groups` groups (in_channels groups: depthwise),
/// or, when separable, a depthwise k x k then a pointwise 1x1; then the block's batch
/// norm when it has one.
struct BlockUnit {
  std::string name;  ///< its module's name in the model (the keys of a saved model.pt)
  int in_channels = 0;
  int out_channels = 0;
  int kernel_size = 1;
  int padding = 0;
  bool separable = false;
  int groups = 1;
};

/// A block's computation: y = chain[n-1](act(...act(chain[0](x)))); with a skip,
/// y = y + shortcut(x) (x itself when the channel count stays); then the block's
/// activation unless it is a linear bottleneck; then its pooling.
struct BlockLayout {
  std::vector<BlockUnit> chain;
  bool skip = false;
  std::optional<BlockUnit> shortcut;  ///< a 1x1 projection: a skip that changes channels
  bool activation_after = true;       ///< false: a linear bottleneck (no activation)
  std::string label = "conv";         ///< describe(): "res" of "res64k3p1"
  std::string suffix;                 ///< describe(): after the padding, e.g. "x4"
};

/// The size of a block, as its kind lays it out.
struct BlockShape {
  int in_channels = 1;
  int out_channels = 1;
  int kernel_size = 3;
  int padding = 1;
};

/// An entry of the registry.
struct BlockKind {
  std::string name;     ///< the value of block_type / convN_type, e.g. "residual"
  std::string summary;  ///< one line for --list-params and docs
  /// The chain, the skip, the activations and the labels (the shortcut is added by
  /// layout_of() where a skip changes the channel count).
  std::function<BlockLayout(const BlockShape&)> layout;
};

/// Every block kind, in the registry's order.
const std::vector<BlockKind>& block_kinds();

/// The kind named `name`; ParamError listing the kinds for any other name.
const BlockKind& block_kind(const std::string& name);

/// The layout of block `b` whose input has `in_channels` channels: its kind's, with a
/// 1x1 "shortcut" projection where its skip changes the channel count.
BlockLayout layout_of(const ConvBlockSpec& b, int in_channels);

}  // namespace nnilib
