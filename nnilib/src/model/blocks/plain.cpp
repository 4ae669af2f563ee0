// plain: one k x k convolution (the seed's block).
#include "nnilib/model/block_kind.h"

namespace nnilib {

BlockKind plain_block() {
  return {"plain", "one k x k convolution", [](const BlockShape& s) {
            BlockLayout l;
            l.chain = {{"first", s.in_channels, s.out_channels, s.kernel_size, s.padding}};
            l.label = "conv";
            return l;
          }};
}

}  // namespace nnilib
