// Private to the runner: wakes its loop the moment something happens outside it (a
// trial process exits, a signal arrives) so that it can sleep instead of polling.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include <signal.h>

namespace nnilib {

/// A self-pipe (one per process, kept open) and a helper thread. While a Wakeup lives,
/// SIGCHLD (a trial exited) and notify() (async-signal-safe: a SIGINT handler may call
/// it) make the helper call `on_wake` promptly; a wake-up written while none lives is
/// delivered, harmlessly, to the next one. One at a time per process; the previous
/// SIGCHLD disposition is restored on destruction.
class Wakeup {
 public:
  explicit Wakeup(std::function<void()> on_wake);
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  /// Async-signal-safe. Before the first Wakeup it does nothing; between two, the wake
  /// waits in the pipe for the next one.
  static void notify() noexcept;

 private:
  void run();

  std::function<void()> on_wake_;
  std::atomic<bool> stop_{false};
  struct sigaction previous_sigchld_ {};
  std::thread thread_;
};

}  // namespace nnilib
