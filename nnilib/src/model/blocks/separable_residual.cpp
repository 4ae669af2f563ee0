// separable_residual: the residual block with separable convolutions.
#include "nnilib/model/block_kind.h"

namespace nnilib {

BlockKind separable_residual_block() {
  return {"separable_residual", "two separable convolutions with a skip connection",
          [](const BlockShape& s) {
            BlockLayout l;
            l.chain = {{"first", s.in_channels, s.out_channels, s.kernel_size, s.padding,
                        /*separable=*/true},
                       {"second", s.out_channels, s.out_channels, s.kernel_size, s.padding,
                        /*separable=*/true}};
            l.skip = true;
            l.label = "ressep";
            return l;
          }};
}

}  // namespace nnilib
