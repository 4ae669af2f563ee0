#include "nni_standin/child_process.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nni_standin/metric_files.h"

extern char** environ;

namespace nnilib::standin {
namespace {

bool is_nni_variable(const std::string& name) {
  return name.rfind("NNI_", 0) == 0 || name == "MULTI_PHASE" || name == "REUSE_MODE";
}

Environment base_environment(const std::string& trial_id, const std::string& sys_dir) {
  return {{"NNI_EXP_ID", "standinexp"},
          {"NNI_TRIAL_JOB_ID", trial_id},
          {"NNI_TRIAL_SEQ_ID", "0"},
          {"NNI_SYS_DIR", sys_dir},
          {"NNI_OUTPUT_DIR", sys_dir}};
}

std::string read_if_exists(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return "";
  return read_whole_file(path);
}

}  // namespace

Environment nni_v3_environment(const std::string& url, const std::string& trial_id,
                               const std::string& sys_dir) {
  Environment env = base_environment(trial_id, sys_dir);
  env["NNI_PLATFORM"] = "local";
  env["NNI_TRIAL_COMMAND_CHANNEL"] = url;
  return env;
}

Environment nni_legacy_environment(const std::string& platform, const std::string& trial_id,
                                   const std::string& sys_dir) {
  Environment env = base_environment(trial_id, sys_dir);
  env["NNI_PLATFORM"] = platform;
  return env;
}

std::string make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("cannot create a temporary directory " + pattern + ": " +
                             std::strerror(errno));
  }
  return pattern;
}

TempDir::TempDir(const std::string& prefix) : path_(make_temp_dir(prefix)) {}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const Environment& overrides,
                           const std::string& work_dir)
    : dir_("nni-child"), started_(std::chrono::steady_clock::now()) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  // Everything the child needs is prepared before fork(): after it, only
  // async-signal-safe calls (the parent has threads).
  Environment env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string name = entry.substr(0, eq);
    if (!is_nni_variable(name)) env[name] = entry.substr(eq + 1);
  }
  for (auto& [k, v] : overrides) env[k] = v;
  std::vector<std::string> env_strings;
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);
  const std::string out_path = dir_.path() + "/stdout";
  const std::string err_path = dir_.path() + "/stderr";

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid_ == 0) {
    ::setpgid(0, 0);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    // Default signal dispositions, as a freshly started trial has.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    if (!work_dir.empty() && ::chdir(work_dir.c_str()) != 0) ::_exit(126);
    ::execve(argp[0], argp.data(), envp.data());
    ::_exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void ChildProcess::send_signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

std::string ChildProcess::stdout_so_far() const { return read_if_exists(dir_.path() + "/stdout"); }
std::string ChildProcess::stderr_so_far() const { return read_if_exists(dir_.path() + "/stderr"); }

ProcessResult ChildProcess::wait(std::chrono::milliseconds timeout) {
  ProcessResult result;
  if (pid_ <= 0 || reaped_) throw std::logic_error("ChildProcess::wait: no child to wait for");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) throw std::runtime_error("waitpid failed");
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  reaped_ = true;
  // Anything else left in its process group goes too.
  ::kill(-pid_, SIGKILL);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  result.out = stdout_so_far();
  result.err = stderr_so_far();
  return result;
}

ProcessResult run_process(const std::vector<std::string>& argv, const Environment& overrides,
                          std::chrono::milliseconds timeout, const std::string& work_dir) {
  ChildProcess child(argv, overrides, work_dir);
  return child.wait(timeout);
}

}  // namespace nnilib::standin
