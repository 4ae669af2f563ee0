#include "runner/gpu_scheduler.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nnilib/common/error.h"

extern char** environ;

namespace nnilib {

namespace {

constexpr std::size_t kMaxOutput = 1 << 20;

// Runs argv, returns its standard output; throws ParamError when it cannot run, exits
// non-zero, runs past `timeout` (then it is killed) or prints more than 1 MiB.
std::string run_capture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  const std::string& program = argv.front();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw ParamError(program + ": cannot create a pipe (" + std::strerror(errno) + ")");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, program.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw ParamError(program + ": cannot run it (" + std::strerror(rc) + ")");
  }
  std::string out;
  bool timed_out = false, too_long = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[65536];
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of output
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > kMaxOutput) {
      too_long = true;
      break;
    }
  }
  ::close(fds[0]);
  if (timed_out || too_long) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", static_cast<double>(timeout.count()) / 1000);
    throw ParamError(program + ": no answer within " + seconds + " s");
  }
  if (too_long) throw ParamError(program + ": printed more than 1 MiB");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw ParamError(program + ": failed (" +
                     (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                        : "signal " + std::to_string(WTERMSIG(status))) +
                     ")");
  return out;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (trim(line).empty()) continue;
    std::vector<std::string> cells;
    std::istringstream fields(line);
    std::string cell;
    while (std::getline(fields, cell, ',')) cells.push_back(trim(cell));
    rows.push_back(cells);
  }
  return rows;
}

// A number of nvidia-smi's CSV; "[N/A]" and "[Not Supported]" read as nullopt.
std::optional<double> number(const std::string& cell) {
  if (cell.empty() || cell.front() == '[') return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(cell.c_str(), &end);
  if (end == cell.c_str() || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::string nvidia_smi_program() {
  const char* p = std::getenv("NNILIB_NVIDIA_SMI");
  return p != nullptr && *p != '\0' ? p : "nvidia-smi";
}

std::vector<GpuInfo> query_gpus(const std::string& nvidia_smi, std::chrono::milliseconds timeout) {
  const std::string gpus_csv =
      run_capture({nvidia_smi, "--query-gpu=index,uuid,memory.used,memory.total,utilization.gpu",
                   "--format=csv,noheader,nounits"},
                  timeout);
  std::vector<GpuInfo> gpus;
  for (const auto& row : csv_rows(gpus_csv)) {
    const auto index = row.size() == 5 ? number(row[0]) : std::nullopt;
    if (!index || *index < 0 || *index > 4096 || *index != std::floor(*index) || row[1].empty())
      throw ParamError(nvidia_smi + ": unexpected GPU line \"" +
                       (row.empty() ? std::string() : row[0]) + ", ...\" (expected index, uuid, " +
                       "memory used, memory total, utilization)");
    GpuInfo g;
    g.index = static_cast<int>(*index);
    g.uuid = row[1];
    const auto used = number(row[2]), total = number(row[3]), load = number(row[4]);
    if (used && total && *total > 0) g.memory_used = std::clamp(*used / *total, 0.0, 1.0);
    if (load) g.utilization = std::clamp(*load / 100.0, 0.0, 1.0);
    gpus.push_back(g);
  }
  const std::string apps_csv = run_capture(
      {nvidia_smi, "--query-compute-apps=gpu_uuid,pid", "--format=csv,noheader"}, timeout);
  for (const auto& row : csv_rows(apps_csv)) {
    if (row.empty()) continue;
    for (GpuInfo& g : gpus)
      if (g.uuid == row[0]) g.active = true;
  }
  std::sort(gpus.begin(), gpus.end(),
            [](const GpuInfo& a, const GpuInfo& b) { return a.index < b.index; });
  return gpus;
}

std::string cuda_visible_devices(const std::vector<int>& gpus) {
  std::string s;
  for (int g : gpus) s += (s.empty() ? "" : ",") + std::to_string(g);
  return s;
}

GpuScheduler::GpuScheduler(std::vector<GpuInfo> gpus, std::vector<int> only, bool use_active)
    : only_(std::move(only)), use_active_(use_active) {
  for (GpuInfo& g : gpus) gpus_.push_back({std::move(g), 0});
}

bool GpuScheduler::allowed(int index) const {
  return only_.empty() || std::count(only_.begin(), only_.end(), index) > 0;
}

int GpuScheduler::usable() const {
  int n = 0;
  for (const Gpu& g : gpus_) n += allowed(g.info.index) ? 1 : 0;
  return n;
}

void GpuScheduler::update(const std::vector<GpuInfo>& gpus) {
  for (const GpuInfo& info : gpus)
    if (Gpu* g = find(info.index)) g->info = info;
}

GpuScheduler::Gpu* GpuScheduler::find(int index) {
  for (Gpu& g : gpus_)
    if (g.info.index == index) return &g;
  return nullptr;
}

std::vector<const GpuScheduler::Gpu*> GpuScheduler::candidates() const {
  std::vector<const Gpu*> c;
  for (const Gpu& g : gpus_) {
    if (!allowed(g.info.index)) continue;
    // Another program's compute process: skipped unless useActiveGpu. A GPU our own
    // trials hold is busy with them, not with someone else.
    if (!use_active_ && g.info.active && g.held == 0) continue;
    c.push_back(&g);
  }
  std::stable_sort(c.begin(), c.end(), [](const Gpu* a, const Gpu* b) {
    if (a->held != b->held) return a->held < b->held;
    if (a->info.active != b->info.active) return !a->info.active;
    if (a->info.memory_used != b->info.memory_used)
      return a->info.memory_used < b->info.memory_used;
    if (a->info.utilization != b->info.utilization)
      return a->info.utilization < b->info.utilization;
    return a->info.index < b->info.index;
  });
  return c;
}

std::optional<std::vector<int>> GpuScheduler::acquire(double share) {
  const std::vector<const Gpu*> c = candidates();
  std::vector<int> picked;
  if (share < 1) {
    if (c.empty() || c.front()->held + share > 1.001) return std::nullopt;
    picked.push_back(c.front()->info.index);
  } else {
    const auto n = static_cast<std::size_t>(std::lround(share));
    if (c.size() < n || c[n - 1]->held > 0) return std::nullopt;
    for (std::size_t k = 0; k < n; ++k) picked.push_back(c[k]->info.index);
  }
  for (int index : picked) find(index)->held += std::min(share, 1.0);
  std::sort(picked.begin(), picked.end());
  return picked;
}

void GpuScheduler::release(const std::vector<int>& gpus, double share) {
  for (int index : gpus)
    if (Gpu* g = find(index)) g->held = std::max(0.0, g->held - std::min(share, 1.0));
}

}  // namespace nnilib
