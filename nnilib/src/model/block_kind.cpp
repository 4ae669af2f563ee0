#include "nnilib/model/block_kind.h"

#include "nnilib/common/named_entry.h"

namespace nnilib {

// The registry: one line per kind, each defined as BlockKind <name>_block() in
// nnilib/src/model/blocks/<name>.cpp. The order is --list-params's.
#define NNILIB_BLOCK_KINDS(X) \
  X(plain)                    \
  X(residual)                 \
  X(separable)                \
  X(separable_residual)       \
  X(inverted_residual)        \
  /* a new kind: one line above this one */

#define NNILIB_DECLARE_BLOCK_KIND(name) BlockKind name##_block();
NNILIB_BLOCK_KINDS(NNILIB_DECLARE_BLOCK_KIND)
#undef NNILIB_DECLARE_BLOCK_KIND

const std::vector<BlockKind>& block_kinds() {
#define NNILIB_BLOCK_KIND_ENTRY(name) name##_block(),
  static const std::vector<BlockKind> kinds = {NNILIB_BLOCK_KINDS(NNILIB_BLOCK_KIND_ENTRY)};
#undef NNILIB_BLOCK_KIND_ENTRY
  return kinds;
}

const BlockKind& block_kind(const std::string& name) {
  return find_named(block_kinds(), name, "block type");
}

BlockLayout layout_of(const ConvBlockSpec& b, int in_channels) {
  BlockLayout layout =
      block_kind(b.kind).layout({in_channels, b.out_channels, b.kernel_size, b.padding});
  if (layout.skip && in_channels != b.out_channels)
    layout.shortcut = BlockUnit{"shortcut", in_channels, b.out_channels, 1, 0, false, 1};
  return layout;
}

}  // namespace nnilib
