// What the two executables' main()s share: SIGINT/SIGTERM as a request to stop (recorded
// by the handler, acted on by the program), and the last word on an exception (one line,
// the error's exit code).
#pragma once

#include <exception>

namespace nnilib {

/// Whether a system call the signal interrupts is restarted (SA_RESTART) or returns
/// early with EINTR (a blocking wait that must notice the stop at once).
enum class SignalRestart { kNo, kYes };

/// Installs the handler of SIGINT and SIGTERM: it keeps the first signal, counts them,
/// and calls `also` (async-signal-safe; may be null). Call once, before any thread.
void install_stop_signals(SignalRestart restart, void (*also)() = nullptr);

/// The first stop signal received; 0 when none.
int first_stop_signal();

/// How many stop signals were received (a second one may mean "now").
int stop_signal_count();

/// "SIGTERM" when the first stop signal was SIGTERM, otherwise "SIGINT".
const char* stop_signal_name();

/// main()'s last word on an exception it caught: prints one line on stderr
/// ("<program>: error: <what>" for an nnilib::Error, "<program>: internal error: <first
/// line of what>" otherwise) and returns the exit code (the Error's, or kInternal).
int exit_on_exception(const char* program, const std::exception& e);

}  // namespace nnilib
