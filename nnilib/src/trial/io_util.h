// Small POSIX helpers of the channels: whole writes and cancellable sleeps.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "nnilib/common/cancellation.h"

namespace nnilib {

/// Writes `data` to `fd` with one write call (looping only on EINTR or a short
/// write), so a frame is never interleaved with other writers. Throws ChannelError
/// naming `what` on failure.
void write_whole(int fd, const std::string& data, const std::string& what);

/// Sleeps `duration` in short slices; returns false (early) when `cancelled` says so.
bool sleep_unless_cancelled(std::chrono::milliseconds duration,
                            const std::function<bool()>& cancelled);

}  // namespace nnilib
