#include "wakeup.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "nnilib/error.h"

namespace nnilib {
namespace {

std::atomic<int> g_write_fd{-1};

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
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    throw IoError(std::string("cannot create the runner's wake-up pipe (") + std::strerror(errno) +
                  ")");
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  // The reader blocks; only the writer (signal handlers) must never block.
  ::fcntl(read_fd_, F_SETFL, ::fcntl(read_fd_, F_GETFL) & ~O_NONBLOCK);
  g_write_fd.store(write_fd_);
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
  [[maybe_unused]] const ssize_t n = ::write(write_fd_, &byte, 1);
  thread_.join();
  g_write_fd.store(-1);
  ::close(read_fd_);
  ::close(write_fd_);
}

void Wakeup::run() {
  char buffer[64];
  while (!stop_.load()) {
    const ssize_t n = ::read(read_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // cannot happen while the write end is open
    if (!stop_.load()) on_wake_();
  }
}

}  // namespace nnilib
