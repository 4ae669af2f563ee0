// separable: a depthwise k x k convolution, then a pointwise 1x1 (Xception, MobileNet).
#include "nnilib/model/block_kind.h"

namespace nnilib {

BlockKind separable_block() {
  return {"separable", "a depthwise k x k convolution, then a pointwise 1x1",
          [](const BlockShape& s) {
            BlockLayout l;
            l.chain = {{"first", s.in_channels, s.out_channels, s.kernel_size, s.padding,
                        /*separable=*/true}};
            l.label = "convsep";
            return l;
          }};
}

}  // namespace nnilib
