#include "nnilib/runner/trial_process.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nnilib/common/error.h"

extern char** environ;

namespace nnilib {
namespace {

bool is_nni_variable(const std::string& name) {
  return name.rfind("NNI_", 0) == 0 || name == "MULTI_PHASE" || name == "REUSE_MODE";
}

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

Fd open_output(const std::string& path, const std::string& command) {
  if (path.empty()) return Fd();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw IoError(path + ": cannot create the trial's output file (" + std::strerror(errno) +
                  ") for command " + command);
  }
  return Fd(fd);
}

// In the child after fork(): only async-signal-safe calls. Reports errno on
// `err_fd` (close-on-exec: it reads EOF when exec succeeds) and exits 127.
[[noreturn]] void child_fail(int err_fd, int stage) {
  const int payload[2] = {stage, errno};
  ssize_t ignored = ::write(err_fd, payload, sizeof payload);
  (void)ignored;
  ::_exit(127);
}

void close_from(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U) == 0) return;
#endif
  const long max = ::sysconf(_SC_OPEN_MAX);
  for (int fd = first; fd < (max > 0 && max < 65536 ? max : 65536); ++fd) ::close(fd);
}

// ---- The keeper: one process between the runner and each trial -----------------
// The runner forks a keeper; the keeper forks the trial (bash -c <command>) and stays
// its parent. It is a child subreaper, so whatever the trial starts (a compound
// command's children, a grandchild that called setsid) becomes the keeper's when its
// parent ends, and it kills all of it: when the trial ends, when the runner asks
// (SIGUSR1), and when the runner dies (SIGUSR2 by PR_SET_PDEATHSIG, kill -9 included).
// It then ends as the trial ended (same exit code, or killed by the same signal), so
// the runner sees the trial's status. It runs between fork() and _exit() in a copy of
// a threaded program: only async-signal-safe calls (no allocation, no locks).

constexpr int kKeeperKill = SIGUSR1;  // runner -> keeper: kill the trial and all it started
constexpr int kRunnerGone = SIGUSR2;  // the kernel -> keeper: the runner died

// Parses the pids in /proc/self/task/<pid>/children and SIGKILLs each.
void kill_children(pid_t self) {
  char path[64] = "/proc/self/task/";
  // pid to decimal, by hand (no snprintf after fork).
  char digits[16];
  int n = 0;
  for (pid_t v = self; v > 0 && n < 15; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
  int at = 16;
  while (n > 0) path[at++] = digits[--n];
  const char* tail = "/children";
  for (int i = 0; tail[i] != 0; ++i) path[at++] = tail[i];
  path[at] = 0;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[4096];
  pid_t pid = 0;
  for (;;) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) break;
    for (ssize_t i = 0; i < got; ++i) {
      if (buf[i] >= '0' && buf[i] <= '9') {
        pid = pid * 10 + (buf[i] - '0');
      } else if (pid > 0) {
        ::kill(pid, SIGKILL);
        pid = 0;
      }
    }
  }
  if (pid > 0) ::kill(pid, SIGKILL);
  ::close(fd);
}

// Kills the trial's process group (`group`, 0 = none) and every descendant of the
// keeper, and reaps them all.
void kill_everything(pid_t self, pid_t group) {
  const timespec tick{0, 5 * 1000 * 1000};
  for (int round = 0; round < 2000; ++round) {  // bounded: 10 s
    if (group > 0) ::kill(-group, SIGKILL);
    kill_children(self);
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(-1, &status, WNOHANG)) > 0) {
    }
    if (r < 0 && errno == ECHILD) return;  // nothing left, orphans included
    ::nanosleep(&tick, nullptr);
  }
}

// Ends the keeper the way the trial ended.
[[noreturn]] void end_like(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(sig, &dfl, nullptr);
    sigset_t just;
    sigemptyset(&just);
    sigaddset(&just, sig);
    ::sigprocmask(SIG_UNBLOCK, &just, nullptr);
    ::kill(::getpid(), sig);
    ::_exit(128 + sig);
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

[[noreturn]] void die_killed() {
  ::kill(::getpid(), SIGKILL);  // never blocked
  ::_exit(137);
}

// The keeper's life after it has forked the trial (`trial`, leader of its own process
// group when `own_group`; the keeper is not in that group).
[[noreturn]] void keep(pid_t trial, bool own_group) {
  const pid_t self = ::getpid();
  const pid_t group = own_group ? trial : 0;
  sigset_t wanted;
  sigemptyset(&wanted);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, kKeeperKill, kRunnerGone})
    sigaddset(&wanted, sig);
  for (;;) {
    siginfo_t info{};
    const int sig = ::sigwaitinfo(&wanted, &info);
    if (sig < 0) continue;  // EINTR
    if (sig == kKeeperKill || sig == kRunnerGone) {
      kill_everything(self, group);
      die_killed();
    }
    if (sig != SIGCHLD) {
      ::kill(trial, sig);  // NNI's signals go to the trial itself
      continue;
    }
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (r == trial) {
        kill_everything(self, group);  // what it left behind
        end_like(status);
      }
    }
  }
}

// The trial, in the keeper's child: its process group, stdio (`stdio`: -1 keeps one),
// default signal dispositions and an empty mask, as a freshly started NNI trial has,
// nothing else open but the status pipe `ef` (moved to 3), then exec. Async-signal-safe.
[[noreturn]] void exec_trial(const int (&stdio)[3], int ef, bool own_group, const char* cwd,
                             char* const argv[], char* const envp[]) {
  if (own_group) ::setpgid(0, 0);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(ef, 1);  // the keeper never dies first
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  for (int fd = 0; fd < 3; ++fd)
    if (stdio[fd] >= 0 && ::dup2(stdio[fd], fd) < 0) child_fail(ef, 2);
  // Keep only 0-2 and the status pipe: the trial must not hold the runner's sockets or
  // database.
  if (ef != 3) {
    if (::dup2(ef, 3) < 0) child_fail(ef, 2);
  }
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  close_from(4);
  if (cwd != nullptr && ::chdir(cwd) != 0) child_fail(3, 3);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(argv[0], argv, envp);
  child_fail(3, 4);
}

}  // namespace

EnvironmentMap environment_without_nni() {
  EnvironmentMap env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string name = entry.substr(0, eq);
    if (!is_nni_variable(name)) env[name] = entry.substr(eq + 1);
  }
  return env;
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGKILL:
      return "SIGKILL";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGHUP:
      return "SIGHUP";
    case SIGPIPE:
      return "SIGPIPE";
    case SIGQUIT:
      return "SIGQUIT";
    default:
      return "signal " + std::to_string(sig);
  }
}

std::string ProcessExit::describe() const {
  if (exited()) return "exit code " + std::to_string(exit_code);
  return "killed by " + signal_name(signal);
}

TrialProcess::TrialProcess(const ProcessLaunch& launch) {
  // Everything is prepared before fork(): the runner has threads (the HTTP server).
  Fd out = open_output(launch.stdout_path, launch.command);
  Fd err = open_output(launch.stderr_path, launch.command);
  Fd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (in.get() < 0)
    throw IoError(std::string("/dev/null: cannot open (") + std::strerror(errno) + ")");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw IoError(std::string("cannot create a pipe to start a trial: ") + std::strerror(errno));
  }
  Fd status_read(pipe_fds[0]), status_write(pipe_fds[1]);

  std::vector<std::string> env_strings;
  env_strings.reserve(launch.environment.size());
  for (const auto& [k, v] : launch.environment) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string bash = "/bin/bash", dash_c = "-c", command = launch.command;
  char* argv[] = {bash.data(), dash_c.data(), command.data(), nullptr};
  const char* cwd = launch.working_directory.empty() ? nullptr : launch.working_directory.c_str();
  const pid_t parent = ::getpid();
  const bool own_group = launch.own_process_group, die_with_runner = launch.die_with_runner;
  sigset_t all;
  sigfillset(&all);
  sigset_t old_mask;
  // No handler of the runner may run in the child between fork and exec.
  ::pthread_sigmask(SIG_SETMASK, &all, &old_mask);

  const pid_t pid = ::fork();
  if (pid == 0) {
    // The keeper (see keep()); every signal stays blocked: it takes them with sigwaitinfo.
    const int ef = status_write.get();
    if (own_group) ::setpgid(0, 0);  // out of the terminal's group: Ctrl-C is the runner's
    if (die_with_runner) {
      if (::prctl(PR_SET_PDEATHSIG, kRunnerGone) != 0) child_fail(ef, 1);
      if (::getppid() != parent) ::_exit(127);  // the runner is already gone
    }
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) child_fail(ef, 1);
    struct sigaction keeper_dfl {};
    keeper_dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &keeper_dfl, nullptr);
    const pid_t trial = ::fork();
    if (trial < 0) child_fail(ef, 5);
    if (trial > 0) {
      if (own_group) ::setpgid(trial, trial);  // also from here: no race with kill(-trial)
      close_from(0);  // the runner's files, sockets and database are not the keeper's
      keep(trial, own_group);
    }
    exec_trial({in.get(), out.get(), err.get()}, ef, own_group, cwd, argv, envp.data());
  }
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (pid < 0) {
    throw SystemError("cannot start trial command " + launch.command + ": fork failed (" +
                      std::strerror(fork_errno) + ")");
  }
  pid_ = pid;
  if (own_group) ::setpgid(pid, pid);  // also from here: no race with signal()
  status_write.reset();
  int payload[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(status_read.get(), payload, sizeof payload);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof payload)) {
    wait();
    static const char* const stages[] = {"",
                                         "prctl",
                                         "redirecting stdio",
                                         "changing to the working directory",
                                         "executing /bin/bash",
                                         "fork"};
    const std::string where = payload[0] == 3 ? " " + launch.working_directory : "";
    const std::string message = "cannot start trial command " + launch.command + ": " +
                                stages[payload[0] >= 1 && payload[0] <= 5 ? payload[0] : 0] +
                                where + " failed (" + std::strerror(payload[1]) + ")";
    // Its log files or its directory: a file problem; prctl, exec, fork: the system's.
    if (payload[0] == 2 || payload[0] == 3) throw IoError(message);
    throw SystemError(message);
  }
}

TrialProcess::~TrialProcess() {
  if (pid_ > 0 && !exit_) {
    kill_group();
    wait();  // the keeper's clean-up is bounded (10 s)
  }
}

void TrialProcess::reaped(int status) {
  ProcessExit e;
  if (WIFEXITED(status)) {
    e.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
  }
  exit_ = e;  // what the trial left behind is gone: its keeper killed it before ending
}

std::optional<ProcessExit> TrialProcess::poll() {
  if (exit_ || pid_ <= 0) return exit_;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) reaped(status);
  return exit_;
}

ProcessExit TrialProcess::wait() {
  if (exit_) return *exit_;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    reaped(status);
  } else {
    exit_ = ProcessExit{};  // not our child any more (cannot happen): treat as gone
  }
  return *exit_;
}

void TrialProcess::signal(int sig) {
  // SIGKILL cannot be forwarded: it would end the keeper, and the trial's children with
  // it gone would be left behind. The keeper kills them all instead.
  if (sig == SIGKILL) return kill_group();
  if (pid_ > 0 && !exit_) ::kill(pid_, sig);
}

void TrialProcess::kill_group() {
  if (pid_ > 0 && !exit_) ::kill(pid_, kKeeperKill);
}

}  // namespace nnilib
