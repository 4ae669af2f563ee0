#include "nnilib/runner/runner_view.h"

#include <algorithm>

#include <sys/ioctl.h>
#include <unistd.h>

#include "nnilib/runner/experiment_report.h"

namespace nnilib {

std::pair<int, int> terminal_size(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
    return {ws.ws_col, ws.ws_row};
  return {100, 40};
}

ConsoleView::ConsoleView(std::FILE* out, bool live) : out_(out), live_(live) {}

ConsoleView::~ConsoleView() { std::fflush(out_); }

std::string ConsoleView::status_line(const RunnerState& state) {
  int running = 0;
  for (const TrialRecord& t : state.trials) running += t.status == kRunning ? 1 : 0;
  std::string s = "experiment " + state.experiment.id + "  " + state.tuner;
  if (!state.assessor.empty()) s += "+" + state.assessor;
  s += "  trials " + std::to_string(state.trials.size());
  if (state.max_trial_number) s += "/" + std::to_string(*state.max_trial_number);
  s += " (" + std::to_string(running) + " running)  elapsed " + format_duration(state.elapsed_s);
  if (const auto best = best_trial(state.trials, state.mode))
    s += "  best " + format_metric(best->final_default) + " (trial " +
         std::to_string(best->sequence) + ")";
  if (state.experiment.status != "RUNNING") {
    s += "  [" + state.experiment.status + "]";
  } else if (state.stopping) {
    s += "  [no new trials]";
  }
  return s;
}

void ConsoleView::clear() {
  if (drawn_lines_ > 0) std::fprintf(out_, "\x1b[%dF\x1b[J", drawn_lines_);
  drawn_lines_ = 0;
}

void ConsoleView::print_line(const std::string& line, const RunnerState& state) {
  if (!live_) {
    std::fprintf(out_, "[%s] %s\n", format_duration(state.elapsed_s).c_str(), line.c_str());
    std::fflush(out_);
    return;
  }
  clear();
  const int width = terminal_size(::fileno(out_)).first;
  std::string l = "[" + format_duration(state.elapsed_s) + "] " + line;
  if (static_cast<int>(l.size()) > width)
    l = l.substr(0, static_cast<std::size_t>(width - 3)) + "...";
  std::fprintf(out_, "%s\n", l.c_str());
}

void ConsoleView::redraw(const RunnerState& state, bool force) {
  if (!live_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(250)) return;
  last_draw_ = now;
  const auto [width, height] = terminal_size(::fileno(out_));
  TableOptions options;
  options.width = std::clamp(width, 60, 200);
  options.mode = state.mode;
  options.now = unix_now();
  options.max_rows = static_cast<std::size_t>(std::max(3, height / 2 - 4));
  options.experiment_dir = state.experiment_dir;
  std::string block = status_line(state);
  if (static_cast<int>(block.size()) > options.width)
    block.resize(static_cast<std::size_t>(options.width));
  block += "\n" + format_trials_table(state.trials, options);
  clear();
  std::fputs(block.c_str(), out_);
  drawn_lines_ = static_cast<int>(std::count(block.begin(), block.end(), '\n'));
  std::fflush(out_);
}

void ConsoleView::on_event(RunnerEvent event, const TrialRecord* trial, const std::string& detail,
                           const RunnerState& state) {
  // Every event goes to runner.log; on the console, the ones a person follows.
  const bool show = live_ ? event != RunnerEvent::kParameterSent && event != RunnerEvent::kMetric &&
                                event != RunnerEvent::kTrialStarted
                          : event != RunnerEvent::kParameterSent;
  if (show) print_line(event_line(event, trial, detail, state), state);
  redraw(state, event != RunnerEvent::kMetric);
  if (live_ && event == RunnerEvent::kEnd) drawn_lines_ = 0;  // leave the last table in place
}

void ConsoleView::on_tick(const RunnerState& state) { redraw(state, false); }

}  // namespace nnilib
