#include "trial/io_util.h"

#include <cerrno>
#include <cstring>
#include <thread>

#include <unistd.h>

#include "nnilib/common/error.h"

namespace nnilib {

void write_whole(int fd, const std::string& data, const std::string& what) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ChannelError("cannot write to " + what + ": " + std::strerror(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

bool sleep_unless_cancelled(std::chrono::milliseconds duration,
                            const std::function<bool()>& cancelled) {
  constexpr std::chrono::milliseconds kSlice{50};
  auto end = std::chrono::steady_clock::now() + duration;
  for (;;) {
    if (is_cancelled(cancelled)) return false;
    auto now = std::chrono::steady_clock::now();
    if (now >= end) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(kSlice, end - now));
  }
}

}  // namespace nnilib
