#include "runner/wakeup.h"

#include <cerrno>
#include <cstring>
#include <mutex>

#include <fcntl.h>
#include <unistd.h>

#include "nnilib/common/error.h"

namespace nnilib {
namespace {

// One pipe for the process, never closed: a signal handler that loaded the write end
// just before a Wakeup ended can never write into a descriptor reused for a file.
std::atomic<int> g_write_fd{-1};
int g_read_fd = -1;

extern "C" void on_sigchld(int) { Wakeup::notify(); }

}  // namespace

void Wakeup::notify() noexcept {
  const int saved_errno = errno;  // a signal handler must leave errno as it found it
  const int fd = g_write_fd.load();
  if (fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);  // full pipe: a wake is pending
  }
  errno = saved_errno;
}

Wakeup::Wakeup(std::function<void()> on_wake) : on_wake_(std::move(on_wake)) {
  static std::once_flag created;
  static int create_errno = 0;
  std::call_once(created, [] {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      create_errno = errno;
      return;
    }
    // The reader blocks; only the writer (signal handlers) must never block.
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) & ~O_NONBLOCK);
    g_read_fd = fds[0];
    g_write_fd.store(fds[1]);
  });
  if (g_read_fd < 0)
    throw IoError(std::string("cannot create the runner's wake-up pipe (") +
                  std::strerror(create_errno) + ")");
  struct sigaction sa {};
  sa.sa_handler = on_sigchld;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  ::sigaction(SIGCHLD, &sa, &previous_sigchld_);
  thread_ = std::thread([this] { run(); });
}

Wakeup::~Wakeup() {
  ::sigaction(SIGCHLD, &previous_sigchld_, nullptr);
  stop_.store(true);
  const char byte = 0;
  [[maybe_unused]] const ssize_t n = ::write(g_write_fd.load(), &byte, 1);
  thread_.join();
}

void Wakeup::run() {
  char buffer[64];
  while (!stop_.load()) {
    const ssize_t n = ::read(g_read_fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // cannot happen while the write end is open
    if (!stop_.load()) on_wake_();
  }
}

}  // namespace nnilib
