#include "runner/experiment_directory.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "runner/warm_start.h"

namespace nnilib {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIdAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr const char* kTrialAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

void ExperimentPaths::require_existing() const {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UsageError(dir + ": no such experiment directory");
  if (!fs::exists(database(), ec))
    throw UsageError(dir + ": not an experiment directory (no experiment.db)");
}

ExperimentLock::ExperimentLock(const ExperimentPaths& paths) {
  const std::string path = paths.lock();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(path + ": cannot create the lock file (" + std::strerror(errno) + ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    const std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "?";
    throw UsageError(paths.dir + ": the experiment is being run by another fmnist-nas (pid " + pid +
                     "); stop it first");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only informative.
  }
}

ExperimentLock::~ExperimentLock() { ::close(fd_); }

bool experiment_running(const std::string& experiment_dir) {
  const int fd = ::open(ExperimentPaths{experiment_dir}.lock().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return locked;
}

int kill_leftover_trials(const std::string& experiment_id) {
  const std::string needle = "NNI_EXP_ID=" + experiment_id;
  int killed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    if (!in) continue;
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bool ours = false, trial = false;
    std::size_t start = 0;
    while (start < env.size()) {
      std::size_t end = env.find('\0', start);
      if (end == std::string::npos) end = env.size();
      const std::string_view var(env.data() + start, end - start);
      ours = ours || var == needle;
      trial = trial || var.rfind("NNI_TRIAL_JOB_ID=", 0) == 0;
      start = end + 1;
    }
    if (ours && trial && ::kill(pid, SIGKILL) == 0) ++killed;
  }
  return killed;
}

std::string prepare_trial_directory(const ExperimentPaths& paths, const TrialRecord& trial) {
  const std::string dir = paths.trial_dir(trial.trial_id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError(dir + ": cannot create the trial directory (" + ec.message() + ")");
  if (trial.attempt > 1) {  // keep the logs of the interrupted attempt
    for (const std::string& f : {dir + "/trial.stdout", dir + "/trial.stderr"})
      if (fs::exists(f, ec)) fs::rename(f, f + "." + std::to_string(trial.attempt - 1), ec);
  }
  return dir;
}

std::string last_line(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 4096);
  in.seekg(from);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string line;
  std::istringstream lines(tail);
  for (std::string l; std::getline(lines, l);) {
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.pop_back();
    if (!l.empty()) line = l;
  }
  if (line.size() > 200) line = line.substr(0, 197) + "...";
  return line;
}

std::string random_id(std::size_t length, const std::string& alphabet) {
  static thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
           static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }());
  std::string out;
  for (std::size_t i = 0; i < length; ++i) out += alphabet[rng() % alphabet.size()];
  return out;
}

std::string new_trial_id(const std::vector<TrialRecord>& trials) {
  std::set<std::string> taken;
  for (const TrialRecord& t : trials) taken.insert(t.trial_id);
  for (;;) {
    std::string id = random_id(5, kTrialAlphabet);
    if (!taken.count(id)) return id;
  }
}

void require_trial_code_directory(const ExperimentConfig& config) {
  std::error_code ec;
  if (!fs::is_directory(config.trial_code_directory, ec))
    throw ParamError(config.config_path + ": trialCodeDirectory " + config.trial_code_directory +
                     " is not a directory");
}

std::string create_experiment(const ExperimentConfig& config, const NewExperimentOptions& options) {
  require_trial_code_directory(config);
  std::error_code ec;
  std::string id = options.id;
  if (!id.empty()) {
    if (id.size() != 8 || id.find_first_not_of(kIdAlphabet) != std::string::npos)
      throw UsageError("--id " + id + ": an experiment id is 8 lowercase letters or digits");
  }
  std::string dir = options.experiment_dir;
  if (dir.empty()) {
    if (id.empty()) {
      do {
        id = random_id(8, kIdAlphabet);
      } while (fs::exists(fs::path(config.experiment_working_directory) / id));
    }
    dir = (fs::path(config.experiment_working_directory) / id).string();
  } else if (id.empty()) {
    id = random_id(8, kIdAlphabet);
  }
  dir = fs::absolute(dir).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec)))
    throw UsageError(dir + ": already exists and is not empty; resume it with `fmnist-nas resume " +
                     dir + "`, or choose another directory");
  // Everything that can fail on the config's content, before anything is created.
  ExperimentRecord e;
  e.id = id;
  e.name = config.experiment_name;
  e.config = config.to_json();
  e.seed = options.seed ? *options.seed : fnv1a(id) & 0x7FFFFFFFFFFFFFFFULL;
  e.seed &= 0x7FFFFFFFFFFFFFFFULL;  // stored as a signed SQLite integer
  e.status = "RUNNING";
  e.created_at = e.updated_at = unix_now();
  const std::string space_text = config.search_space_json.dump(2) + "\n";
  WarmStart warm = read_warm_start(options.warm_start, config.search_space);
  warm.enqueued = read_enqueued(options.enqueue, config.search_space);
  (void)e.config.dump();  // throws here on a string that is not UTF-8, not in the database

  const bool existed = fs::exists(dir, ec);
  fs::create_directories(fs::path(dir) / "trials", ec);
  if (ec) throw IoError(dir + ": cannot create the experiment directory (" + ec.message() + ")");
  // Trial ids, channel URLs, parameters and logs are for this user only.
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  const ExperimentPaths paths{dir};
  try {
    // Copies of what nnictl would read, for the record.
    if (!config.config_path.empty() && fs::is_regular_file(config.config_path, ec)) {
      fs::copy_file(config.config_path, paths.config(), fs::copy_options::overwrite_existing, ec);
      if (ec) throw IoError(paths.config() + ": cannot copy the config (" + ec.message() + ")");
    }
    write_file_atomically(paths.search_space(), space_text, "the search space");
    if (!warm.empty()) save_warm_start(paths.warm_start(), warm);
    ExperimentStore::create(paths.database(), e);
  } catch (...) {
    // No half-made experiment is left to block the next run (the directory was empty).
    for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove_all(entry.path(), ec);
    if (!existed) fs::remove(dir, ec);
    throw;
  }
  return dir;
}

}  // namespace nnilib
