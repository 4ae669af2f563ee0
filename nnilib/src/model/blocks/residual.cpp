// residual: two k x k convolutions with a skip connection (ResNet's basic block).
#include "nnilib/model/block_kind.h"

namespace nnilib {

BlockKind residual_block() {
  return {"residual", "two k x k convolutions with a skip connection (ResNet)",
          [](const BlockShape& s) {
            BlockLayout l;
            l.chain = {{"first", s.in_channels, s.out_channels, s.kernel_size, s.padding},
                       {"second", s.out_channels, s.out_channels, s.kernel_size, s.padding}};
            l.skip = true;
            l.label = "res";
            return l;
          }};
}

}  // namespace nnilib
