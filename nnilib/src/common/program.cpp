#include "nnilib/common/program.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>

#include "nnilib/common/error.h"

namespace nnilib {
namespace {

std::atomic<int> g_first_signal{0};
std::atomic<int> g_signal_count{0};
std::atomic<void (*)()> g_also{nullptr};

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  g_first_signal.compare_exchange_strong(expected, sig);  // NNI may send SIGINT again
  g_signal_count.fetch_add(1);
  if (void (*also)() = g_also.load()) also();
}

}  // namespace

void install_stop_signals(SignalRestart restart, void (*also)()) {
  g_also.store(also);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = restart == SignalRestart::kYes ? SA_RESTART : 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int first_stop_signal() { return g_first_signal.load(); }

int stop_signal_count() { return g_signal_count.load(); }

const char* stop_signal_name() { return g_first_signal.load() == SIGTERM ? "SIGTERM" : "SIGINT"; }

int exit_on_exception(const char* program, const std::exception& e) {
  std::fflush(stdout);
  if (const auto* error = dynamic_cast<const Error*>(&e)) {
    std::fprintf(stderr, "%s: error: %s\n", program, error->what());
    return static_cast<int>(error->code());
  }
  std::string what = e.what();
  what = what.substr(0, what.find('\n'));
  std::fprintf(stderr, "%s: internal error: %s\n", program, what.c_str());
  return static_cast<int>(ExitCode::kInternal);
}

}  // namespace nnilib
