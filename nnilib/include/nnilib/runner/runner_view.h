// The terminal view of a running experiment: on a terminal, a table of the trials
// redrawn in place (ANSI) under a scrolling log of what happened; otherwise (a
// pipe, a file, CI) one plain line per event. Free of LibTorch.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "nnilib/runner/runner.h"

namespace nnilib {

/// A RunnerObserver that draws on a FILE (stdout).
class ConsoleView : public RunnerObserver {
 public:
  /// `live`: redraw a table in place (stdout is a terminal); else plain lines.
  ConsoleView(std::FILE* out, bool live);
  ~ConsoleView() override;
  void on_event(RunnerEvent event, const TrialRecord* trial, const std::string& detail,
                const RunnerState& state) override;
  void on_tick(const RunnerState& state) override;

  /// The summary line above the live table, e.g. "experiment ab12cd34  TPE  trials 3/10
  /// (2 running)  elapsed 1:23  best 0.9012 (trial 2)".
  static std::string status_line(const RunnerState& state);

 private:
  void print_line(const std::string& line, const RunnerState& state);
  void redraw(const RunnerState& state, bool force);
  void clear();

  std::FILE* out_;
  bool live_;
  int drawn_lines_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

/// The terminal's width and height (TIOCGWINSZ on `fd`), or 100 x 40.
std::pair<int, int> terminal_size(int fd);

}  // namespace nnilib
