// inverted_residual: MobileNetV2's block: a 1x1 expansion, a depthwise k x k, a 1x1
// projection, the skip, and no activation after the sum (a linear bottleneck).
#include "nnilib/model/block_kind.h"

namespace nnilib {
namespace {

// The expansion (MobileNetV2's t = 6 is for wider ImageNet models; 4 keeps a 28x28
// block's hidden maps affordable on a CPU).
constexpr int kExpansion = 4;

}  // namespace

BlockKind inverted_residual_block() {
  return {"inverted_residual",
          "MobileNetV2's block: 1x1 expand x4, depthwise k x k, 1x1 project, skip",
          [](const BlockShape& s) {
            const int hidden = s.in_channels * kExpansion;
            BlockLayout l;
            l.chain = {{"expand", s.in_channels, hidden, 1, 0},
                       {"depthwise", hidden, hidden, s.kernel_size, s.padding,
                        /*separable=*/false, /*groups=*/hidden},
                       {"project", hidden, s.out_channels, 1, 0}};
            l.skip = true;
            l.activation_after = false;
            l.label = "inv";
            l.suffix = "x" + std::to_string(kExpansion);
            return l;
          }};
}

}  // namespace nnilib
