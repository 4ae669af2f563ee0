#include "nnilib/runner/runner.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/common/json_text.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/runner/trial_process.h"
#include "nnilib/trial/protocol.h"
#include "nnilib/trial/trial_environment.h"
#include "nnilib/tuner/assessor.h"
#include "nnilib/tuner/tuner_registry.h"
#include "runner/channel_server.h"
#include "runner/gpu_scheduler.h"
#include "runner/trial_time.h"
#include "runner/wakeup.h"
#include "runner/warm_start.h"

namespace nnilib {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using steady = std::chrono::steady_clock;

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

namespace {

// The last non-empty line of a file (its last 4 KiB), cut to 200 characters.
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

std::string trial_label(const TrialRecord& t) {
  return "trial " + std::to_string(t.sequence) + " " + t.trial_id;
}

// Kills (SIGKILL) every process whose environment says it is a trial of
// experiment `id`: what a killed runner left behind (children of compound
// trial commands). Returns how many.
int kill_leftover_trials(const std::string& id) {
  const std::string needle = "NNI_EXP_ID=" + id;
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

// The experiment directory's lock (flock: released by the kernel even on kill -9).
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw IoError(path + ": cannot create the lock file (" + std::strerror(errno) + ")");
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {0};
      ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      ::close(fd_);
      const std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "?";
      throw UsageError(fs::path(path).parent_path().string() +
                       ": the experiment is being run by another fmnist-nas (pid " + pid +
                       "); stop it first");
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      // The pid is only informative.
    }
  }
  ~DirectoryLock() { ::close(fd_); }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

// Why the runner asked a trial to stop.
enum class StopCause {
  kNone,
  kAssessor,
  kTrialDuration,
  kReserve,  // it could not end before the final training's reserve
  kFault,
  kRunnerStop,
  kUserCancel
};

// Proposals the runner passes over, when none can end in time, before it waits for a
// running trial to end (the tuner may then propose a shorter one).
constexpr int kMaxSkippedProposals = 8;

struct ActiveTrial {
  std::size_t index = 0;  // into Session::state_.trials
  std::unique_ptr<TrialProcess> process;
  steady::time_point started;
  std::optional<steady::time_point> kill_at;  // SIGKILL deadline after SIGINT
  StopCause stop = StopCause::kNone;
  std::string stop_reason;
  bool final_received = false;
  bool finishing = false;  // after the search's end: it ends in time, and was told so
  double start_elapsed = 0;
  // When it was expected to end (elapsed seconds), when it started before the reserve.
  std::optional<double> expected_end;
  std::vector<int> gpus;  // held from the GPU scheduler until the trial ends
};

class Session {
 public:
  Session(const std::string& dir, const RunnerOptions& options)
      : options_(options), paths_{fs::absolute(dir).lexically_normal().string()} {
    while (paths_.dir.size() > 1 && paths_.dir.back() == '/') paths_.dir.pop_back();
  }

  RunResult run() {
    paths_.require_existing();
    std::error_code ec;  // experiments made before directories were private become so
    fs::permissions(paths_.dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    DirectoryLock lock(paths_.lock());
    store_.emplace(ExperimentStore::open(paths_.database(), false));
    log_.open(paths_.log(), std::ios::app);
    try {
      setup();
      loop();
    } catch (...) {
      abort_all();
      try {
        state_.experiment.status = "ERROR";
        state_.experiment.end_reason = "the runner failed";
        state_.experiment.elapsed_s = elapsed();
        store_->update_experiment(state_.experiment);
      } catch (...) {
      }
      throw;
    }
    RunResult result = finish();
    if (options_.after_search && !result.interrupted) options_.after_search(result);
    return result;
  }

 private:
  // ---- setup --------------------------------------------------------------

  void setup() {
    state_.experiment = store_->experiment();
    state_.experiment_dir = paths_.dir;
    config_ = ExperimentConfig::from_json(state_.experiment.config, paths_.database());
    if (options_.max_trial_number) config_.max_trial_number = *options_.max_trial_number;
    if (options_.max_experiment_duration_s)
      config_.max_experiment_duration_s = *options_.max_experiment_duration_s;
    state_.experiment.config = config_.to_json();
    state_.trials = store_->trials();
    state_.tuner = config_.tuner.name;
    state_.assessor = config_.assessor ? config_.assessor->name : "";
    state_.concurrency = config_.trial_concurrency;
    state_.max_trial_number = config_.max_trial_number;
    base_elapsed_ = state_.experiment.elapsed_s;
    const bool resumed = state_.experiment.sessions > 0;

    std::error_code ec;
    if (!fs::is_directory(config_.trial_code_directory, ec))
      throw ParamError(config_.config_path + ": trialCodeDirectory " +
                       config_.trial_code_directory + " is not a directory");

    // Threads: cores shared among concurrent trials unless the user chose.
    base_env_ = environment_without_nni();
    const int cores = options_.cores > 0 ? options_.cores : available_cores();
    // An empty value counts as unset (and would only make OpenMP complain).
    for (const char* var : {"OMP_NUM_THREADS", "MKL_NUM_THREADS"}) {
      auto it = base_env_.find(var);
      if (it != base_env_.end() && it->second.empty()) base_env_.erase(it);
    }
    if (base_env_.count("OMP_NUM_THREADS") == 0) {
      state_.threads_per_trial = std::max(1, cores / config_.trial_concurrency);
      base_env_["OMP_NUM_THREADS"] = std::to_string(state_.threads_per_trial);
      if (base_env_.count("MKL_NUM_THREADS") == 0)
        base_env_["MKL_NUM_THREADS"] = std::to_string(state_.threads_per_trial);
    } else {
      state_.threads_per_trial = 0;
    }

    setup_gpus();

    // The tuner: a new seed per session (same history -> same proposals), fed
    // the finished trials; the assessor replays what it saw.
    const std::uint64_t seed =
        state_.experiment.seed +
        0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(state_.experiment.sessions);
    tuner_ = make_tuner(config_.tuner.name, config_.tuner.class_args, config_.search_space, seed);
    if (config_.assessor)
      assessor_ = make_assessor(config_.assessor->name, config_.assessor->class_args);
    state_.mode = ranking_mode(*tuner_, assessor_.get());
    std::vector<ImportedTrial> imported;
    for (const TrialRecord& t : state_.trials) {
      if (t.finished() && !t.interrupted) {
        if (t.status == kSucceeded && t.final_default)
          imported.push_back({t.parameters, *t.final_default});
        if (assessor_) {
          std::vector<double> h;
          for (double v : t.history) {
            h.push_back(v);
            assessor_->assess_trial(t.trial_id, h);
          }
          assessor_->trial_end(t.trial_id, t.status == kSucceeded);
        }
      }
    }
    // An experiment started from earlier ones (fmnist-nas run --warm-start): their results
    // first, then its own.
    const WarmStart warm = load_warm_start(paths_.warm_start());
    std::vector<ImportedTrial> seeded = warm_start_for(*tuner_, warm);
    const std::size_t from_warm = seeded.size();
    seeded.insert(seeded.end(), imported.begin(), imported.end());
    if (!seeded.empty()) tuner_->import_data(seeded);

    // Trials a previous session left unfinished run again, first.
    int leftovers = 0;
    for (std::size_t i = 0; i < state_.trials.size(); ++i) {
      TrialRecord& t = state_.trials[i];
      if (t.finished() && !t.interrupted) continue;
      if (leftovers == 0) {
        if (const int killed = kill_leftover_trials(state_.experiment.id); killed > 0)
          note("killed " + std::to_string(killed) +
               " leftover trial process(es) of the previous session");
      }
      ++leftovers;
      store_->reset_trial(t.trial_id);
      t = *store_->trial(t.trial_id);
      rerun_.push_back(i);
    }

    state_.experiment.sessions += 1;
    state_.experiment.status = "RUNNING";
    state_.experiment.end_reason.clear();
    store_->update_experiment(state_.experiment);

    ChannelServer::Options server_options;
    // Two per running trial, and room for stray connections (each dropped after 1 s).
    server_options.threads = std::min(64, 2 * config_.trial_concurrency + 48);
    server_threads_ = server_options.threads;
    server_.emplace(server_options);
    // A trial's exit (SIGCHLD) or a stop signal (wake_runner) ends the loop's wait.
    wakeup_.emplace([this] { server_->wake(); });
    session_start_ = steady::now();
    emit(RunnerEvent::kBegin, nullptr, resumed ? "resume" : "new");
    if (!warm.sources.empty())
      note("warm start: " + config_.tuner.name + " takes " + std::to_string(from_warm) + " of " +
           std::to_string(warm.trials.size()) + " results of " +
           std::to_string(warm.sources.size()) + " earlier experiment(s)" +
           (warm.outside > 0
                ? " (" + std::to_string(warm.outside) + " more were outside this search space)"
                : ""));
    if (leftovers > 0) note(std::to_string(leftovers) + " interrupted trial(s) will run again");
  }

  // ---- the loop -----------------------------------------------------------

  void loop() {
    auto last_tick = steady::now();
    check_signals();
    submit();  // the first trials start now, not after the loop's first wait
    for (;;) {
      check_signals();
      check_control();
      // Sleeps until a channel event, a trial's exit, a signal or the next deadline:
      // no periodic wake-ups that would take a core from a training trial.
      for (ChannelEvent& e : server_->wait_events(time_to_next_deadline(last_tick)))
        on_channel_event(e);
      // Reap; events a trial sent just before exiting are handled before its end.
      std::vector<std::size_t> ended;
      for (std::size_t k = 0; k < active_.size(); ++k)
        if (active_[k].process->poll()) ended.push_back(k);
      if (!ended.empty()) {
        for (ChannelEvent& e : server_->wait_events(std::chrono::milliseconds(0)))
          on_channel_event(e);
        for (std::size_t k = ended.size(); k-- > 0;) end_trial(ended[k]);
      }
      enforce_deadlines();
      check_limits();
      submit();
      if (active_.empty() && (no_more_ || stopping_)) break;
      const auto now = steady::now();
      if (now - last_tick >= std::chrono::seconds(1)) {
        last_tick = now;
        state_.elapsed_s = elapsed();
        store_->set_elapsed(state_.elapsed_s);
        if (options_.observer != nullptr) options_.observer->on_tick(state_);
      }
    }
  }

  // Until the next thing the loop must do on its own: the 1 s tick (elapsed time, live
  // view), a SIGKILL after the grace period, maxTrialDuration, maxExperimentDuration;
  // at most options_.poll_interval.
  std::chrono::milliseconds time_to_next_deadline(steady::time_point last_tick) const {
    const auto now = steady::now();
    steady::time_point next =
        std::min(last_tick + std::chrono::seconds(1), now + options_.poll_interval);
    for (const ActiveTrial& a : active_) {
      if (a.kill_at) next = std::min(next, *a.kill_at);
      if (config_.max_trial_duration_s && a.stop == StopCause::kNone)
        next = std::min(next, a.started + std::chrono::seconds(*config_.max_trial_duration_s));
    }
    if (config_.max_experiment_duration_s && !no_more_) {
      const double left =
          static_cast<double>(*config_.max_experiment_duration_s) - final_reserve() - elapsed();
      next = std::min(next, now + std::chrono::milliseconds(
                                      static_cast<int64_t>(std::max(0.0, left) * 1000.0 + 1)));
    }
    // Whole milliseconds, rounded up so that the deadline has passed on waking.
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
    return std::max(std::chrono::milliseconds(0), wait);
  }

  void check_signals() {
    if (!stopping_ && options_.stop_signal) {
      if (const int sig = options_.stop_signal(); sig != 0) {
        stop_signal_ = sig;
        stop("interrupted by " + signal_name(sig));
      }
    }
    if (stopping_ && !killed_now_ && options_.kill_now && options_.kill_now()) {
      killed_now_ = true;
      note("second signal: killing every running trial now");
      for (ActiveTrial& a : active_) a.process->kill_group();
    }
  }

  // The dashboard's requests (the database's control table), at most every 250 ms.
  void check_control() {
    const auto now = steady::now();
    if (now - last_control_check_ < std::chrono::milliseconds(250)) return;
    last_control_check_ = now;
    for (const ControlRecord& c : store_->pending_controls()) {
      std::string result;
      try {
        result = apply_control(c);
      } catch (const Error& e) {
        result = std::string("refused: ") + e.what();
      }
      store_->control_handled(c.id, unix_now(), result);
      note("dashboard: " + result);
    }
  }

  std::string apply_control(const ControlRecord& c) {
    if (c.action == "cancel") {
      for (ActiveTrial& a : active_) {
        TrialRecord& t = state_.trials[a.index];
        if (t.trial_id != c.target) continue;
        if (a.stop != StopCause::kNone) return trial_label(t) + " is already stopping";
        request_stop(a, StopCause::kUserCancel, "canceled from the dashboard");
        return trial_label(t) + " canceled";
      }
      return "refused: trial " + c.target + " is not running";
    }
    if (c.action == "stop") {
      if (stopping_) return "the experiment is already stopping";
      stop("stopped from the dashboard");
      return "experiment stopped; fmnist-nas resume continues it";
    }
    if (c.action == "limits") {
      const LimitChange change = parse_limit_change(c.value);
      if (change.trial_concurrency && 2 * *change.trial_concurrency > server_threads_)
        throw ParamError("trialConcurrency " + std::to_string(*change.trial_concurrency) +
                         " is more than this session's channel serves (" +
                         std::to_string(server_threads_ / 2) + "); resume with it instead");
      std::string what;
      if (change.max_trial_number) {
        config_.max_trial_number = *change.max_trial_number;
        state_.max_trial_number = config_.max_trial_number;
        what += " maxTrialNumber " + std::to_string(*change.max_trial_number);
      }
      if (change.max_experiment_duration_s) {
        config_.max_experiment_duration_s = *change.max_experiment_duration_s;
        what += " maxExperimentDuration " +
                format_duration(static_cast<double>(*change.max_experiment_duration_s));
      }
      if (change.trial_concurrency) {
        config_.trial_concurrency = *change.trial_concurrency;
        state_.concurrency = config_.trial_concurrency;
        what += " trialConcurrency " + std::to_string(*change.trial_concurrency);
      }
      state_.experiment.config = config_.to_json();
      state_.experiment.elapsed_s = elapsed();
      store_->update_experiment(state_.experiment);
      // A raised limit lets a search that a limit had ended go on (check_limits and
      // submit() decide again); a stop signal or the tuner's end stay final.
      if (no_more_ && !stopping_ && limit_ended_) {
        no_more_ = false;
        limit_ended_ = false;
        search_ended_ = false;
        skipped_proposals_ = 0;
        state_.stopping = false;
        end_reason_.clear();
      }
      return "limits set:" + what;
    }
    return "refused: unknown action " + json_quote(c.action);
  }

  // Stops the experiment (resumable): no new trials, SIGINT to the running ones.
  void stop(const std::string& reason) {
    stopping_ = true;
    end_reason_ = reason;
    state_.stopping = true;
    server_->close_all();
    char grace[32];
    std::snprintf(grace, sizeof grace, "%.1f", options_.kill_grace.count() / 1000.0);
    note(end_reason_ + ": stopping " + std::to_string(active_.size()) +
         " running trial(s) (SIGINT, SIGKILL after " + grace + " s)");
    for (ActiveTrial& a : active_) request_stop(a, StopCause::kRunnerStop, end_reason_);
  }

  void check_limits() {
    if (stopping_) return;
    if (config_.max_experiment_duration_s &&
        elapsed() >= static_cast<double>(*config_.max_experiment_duration_s)) {
      if (!no_more_) {
        no_more("maxExperimentDuration " + format_duration(*config_.max_experiment_duration_s) +
                " reached");
        limit_ended_ = true;
      }
      return;
    }
    const double reserve = final_reserve();
    if (reserve <= 0) return;
    const double limit = static_cast<double>(*config_.max_experiment_duration_s);
    if (!search_ended_ && elapsed() + reserve >= limit) {
      search_ended_ = true;
      const std::string why = "the search ends: the last " + format_duration(reserve) +
                              " of maxExperimentDuration " + format_duration(limit) +
                              " are kept for the final training";
      if (!no_more_) {
        no_more_ = true;
        state_.stopping = true;
        end_reason_ = why;
        limit_ended_ = true;
      }
      note(why + (active_.empty()
                      ? ""
                      : "; the running trials finish if they end by " +
                            format_duration(finish_by(reserve)) + ", the others stop now"));
      last_reserve_check_ = steady::time_point{};
    }
    if (search_ended_) enforce_reserve(reserve);
  }

  // The latest a trial may end (elapsed seconds) when the final training keeps `reserve`.
  double finish_by(double reserve) const {
    return static_cast<double>(*config_.max_experiment_duration_s) -
           (1 - std::clamp(options_.final_finish_share, 0.0, 1.0)) * reserve;
  }

  // After the search's end, about once a second: a running trial that will not end by
  // finish_by() (its progress, else the experiment's timings) stops now, and counts
  // with its best intermediate result (final_candidate); the others finish.
  void enforce_reserve(double reserve) {
    const auto now = steady::now();
    if (now - last_reserve_check_ < std::chrono::seconds(1)) return;
    last_reserve_check_ = now;
    const TrialTimes times(state_.trials, tuner_->continued_budget() > 0);
    const double by = finish_by(reserve);
    for (ActiveTrial& a : active_) {
      if (a.stop != StopCause::kNone) continue;
      TrialRecord& t = state_.trials[a.index];
      const auto left = seconds_left(t, paths_.trial_dir(t.trial_id), times, unix_now());
      // A trial started because it was expected to end in time may run a little over
      // that expectation (a fifth of its length, 2 s) before it counts as late.
      const double own_by =
          a.expected_end
              ? std::max(by, *a.expected_end + 0.2 * (*a.expected_end - a.start_elapsed) + 2)
              : by;
      if (left && elapsed() + *left <= own_by) {
        if (!a.finishing) {
          a.finishing = true;
          note(trial_label(t) + " finishes before the final training (about " +
               format_duration(*left) + " left)");
        }
        continue;
      }
      request_stop(a, StopCause::kReserve,
                   "stopped for the final training: " +
                       (left ? "about " + format_duration(*left) + " left would end after " +
                                   format_duration(own_by)
                             : std::string("it did not end by ") + format_duration(own_by)) +
                       "; its best result still counts for the final training");
    }
  }

  // Seconds kept free for the final training of the current candidate (0: none).
  double final_reserve() const {
    if (!options_.final_reserve_s || !config_.max_experiment_duration_s) return 0;
    const auto candidate = final_candidate(state_.trials, state_.mode);
    return candidate ? std::max(0.0, options_.final_reserve_s(candidate->trial)) : 0.0;
  }

  // Whether a trial about to start is expected to end before the final training's
  // reserve (true when nothing can be said yet).
  // Otherwise adds what it would have needed to skipped_ (one line per pass of submit()).
  bool ends_before_reserve(const TrialRecord& t) {
    next_expected_end_.reset();
    const double reserve = final_reserve();
    if (reserve <= 0) return true;
    const auto expected =
        TrialTimes(state_.trials, tuner_->continued_budget() > 0).expected_seconds(t);
    if (!expected) return true;
    const double by = finish_by(reserve);
    if (elapsed() + *expected <= by) {
      next_expected_end_ = elapsed() + *expected;
      return true;
    }
    skipped_.count += 1;
    skipped_.shortest = std::min(skipped_.shortest, *expected);
    skipped_.by = by;
    return false;
  }

  // One line for the proposals submit() passed over.
  void note_skipped() {
    if (skipped_.count == 0) return;
    note("not started: " + std::to_string(skipped_.count) +
         " proposal(s) of the tuner, the shortest expected to take " +
         format_duration(skipped_.shortest) + ", would not end by " + format_duration(skipped_.by) +
         " (the search then ends for the final training)");
    skipped_ = Skipped{};
  }

  void no_more(const std::string& reason) {
    if (no_more_) return;
    no_more_ = true;
    state_.stopping = true;
    end_reason_ = reason;
    note(reason + (active_.empty() ? "" : "; waiting for the running trial(s) to finish"));
  }

  void submit() {
    while (!stopping_ && !no_more_ && skipped_proposals_ < kMaxSkippedProposals &&
           static_cast<int>(active_.size()) < config_.trial_concurrency) {
      const auto count = static_cast<std::int64_t>(state_.trials.size());
      if (rerun_.empty() && config_.max_trial_number && count >= *config_.max_trial_number) {
        no_more("maxTrialNumber " + std::to_string(*config_.max_trial_number) + " reached");
        limit_ended_ = true;
        break;
      }
      std::vector<int> gpus;
      if (gpus_) {
        auto got = acquire_gpus();
        if (!got) break;  // asked again on the next pass of the loop
        gpus = std::move(*got);
      }
      if (!rerun_.empty()) {
        const std::size_t index = rerun_.front();
        rerun_.erase(rerun_.begin());
        start_trial(index, std::move(gpus));
        continue;
      }
      const std::int64_t sequence = count;
      std::optional<json> params = tuner_->generate_parameters(sequence);
      if (!params && gpus_) gpus_->release(gpus, gpu_share_);
      if (!params && !tuner_->exhausted() && !active_.empty()) break;  // asked again later
      if (!params) {
        no_more(tuner_->exhausted()
                    ? "the tuner has no more parameters (" + config_.tuner.name +
                          ": the search space is exhausted)"
                    : "the tuner waits for trials, and none runs (" + config_.tuner.name + ")");
        break;
      }
      TrialRecord t;
      t.trial_id = new_trial_id();
      t.sequence = sequence;
      t.parameter_id = tuner_->wire_parameter_id(sequence);  // Hyperband: "0-3_0_7"
      t.parameters = *params;
      t.created_at = unix_now();
      if (!ends_before_reserve(t)) {
        // The tuner learns it ended without a result; the next proposal may be shorter.
        tuner_->trial_end(sequence, false);
        if (gpus_) gpus_->release(gpus, gpu_share_);
        if (++skipped_proposals_ >= kMaxSkippedProposals) {
          note_skipped();
          if (active_.empty())
            no_more("no trial the tuner proposes can end before the final training's reserve");
          break;  // asked again when a running trial ends
        }
        continue;
      }
      note_skipped();
      store_->insert_trial(t);
      state_.trials.push_back(t);
      start_trial(state_.trials.size() - 1, std::move(gpus));
    }
    note_skipped();
  }

  // ---- GPUs (trialGpuNumber > 0) --------------------------------------------

  // Reads the GPUs once and checks that a trial's share can ever be met.
  void setup_gpus() {
    const int want = config_.trial_gpu_number.value_or(0);
    if (want == 0) return;
    const std::string what = config_.config_path + ": trialGpuNumber " + std::to_string(want);
    std::vector<GpuInfo> info;
    try {
      info = query_gpus(nvidia_smi_program());
    } catch (const ParamError& e) {
      throw ParamError(what + " needs this machine's GPUs, and " + e.what());
    }
    std::vector<int> indices;
    for (const GpuInfo& g : info) indices.push_back(g.index);
    const std::string listed = cuda_visible_devices(indices);  // "0,1,2"
    for (int index : config_.gpu_indices)
      if (std::none_of(info.begin(), info.end(),
                       [&](const GpuInfo& g) { return g.index == index; }))
        throw ParamError(config_.config_path + ": gpuIndices names GPU " + std::to_string(index) +
                         ", which nvidia-smi does not list (" +
                         (listed.empty() ? "no GPU" : "GPUs " + listed) + ")");
    gpus_.emplace(std::move(info), config_.gpu_indices, config_.use_active_gpu);
    gpus_read_ = steady::now();
    gpu_share_ = static_cast<double>(want) / config_.max_trial_number_per_gpu;
    const int needed = gpu_share_ < 1 ? 1 : static_cast<int>(std::lround(gpu_share_));
    if (needed > gpus_->usable())
      throw ParamError(what + " needs " + std::to_string(needed) + " GPU(s) per trial; " +
                       std::to_string(gpus_->usable()) + " can be used (" +
                       (listed.empty() ? "no GPU" : "GPUs " + listed) +
                       (config_.gpu_indices.empty() ? "" : ", gpuIndices") + ")");
  }

  // The GPUs for the next trial, or nullopt while they are busy. Readings older than
  // 5 s are taken again first (another program may have started or ended).
  std::optional<std::vector<int>> acquire_gpus() {
    const auto now = steady::now();
    if (now - gpus_read_ >= std::chrono::seconds(5)) {
      gpus_read_ = now;
      try {
        gpus_->update(query_gpus(nvidia_smi_program()));
      } catch (const ParamError& e) {
        note(std::string("GPU readings not renewed: ") + e.what());
      }
    }
    auto got = gpus_->acquire(gpu_share_);
    if (!got && !waiting_for_gpu_) note("waiting for a free GPU");
    waiting_for_gpu_ = !got;
    return got;
  }

  // The checkpoint of the trial this one continues (predecessor_of: the same
  // configuration's trial with a final result and the largest smaller TRIAL_BUDGET);
  // "" when there is none or it left none. It may still be exiting: its checkpoint was
  // written before its final result.
  std::string predecessor_checkpoint(const TrialRecord& t) const {
    const TrialRecord* from = predecessor_of(t, state_.trials);
    if (from == nullptr) return "";
    const std::string path = paths_.trial_dir(from->trial_id) + "/checkpoint.pt";
    std::error_code ec;
    return fs::exists(path, ec) ? path : "";
  }

  std::string new_trial_id() {
    std::set<std::string> taken;
    for (const TrialRecord& t : state_.trials) taken.insert(t.trial_id);
    for (;;) {
      std::string id = random_id(5, kTrialAlphabet);
      if (!taken.count(id)) return id;
    }
  }

  void start_trial(std::size_t index, std::vector<int> gpus) {
    TrialRecord& t = state_.trials[index];
    const std::string dir = paths_.trial_dir(t.trial_id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw IoError(dir + ": cannot create the trial directory (" + ec.message() + ")");
    const std::string out = dir + "/trial.stdout", err = dir + "/trial.stderr";
    if (t.attempt > 1) {  // keep the logs of the interrupted attempt
      for (const std::string& f : {out, err})
        if (fs::exists(f, ec)) fs::rename(f, f + "." + std::to_string(t.attempt - 1), ec);
    }
    ParameterRecord record;
    record.parameter_id = t.parameter_id;
    record.parameter_source = "algorithm";
    record.parameters = t.parameters;
    record.parameter_index = 0;
    server_->add_trial(t.trial_id, record);

    ProcessLaunch launch;
    launch.command = config_.trial_command;
    launch.working_directory = config_.trial_code_directory;
    launch.stdout_path = out;
    launch.stderr_path = err;
    launch.environment = base_env_;
    EnvironmentMap& env = launch.environment;
    env["NNI_PLATFORM"] = "local";
    env["NNI_EXP_ID"] = state_.experiment.id;
    env["NNI_TRIAL_JOB_ID"] = t.trial_id;
    env["NNI_TRIAL_SEQ_ID"] = std::to_string(t.sequence);
    env["NNI_SYS_DIR"] = dir;
    env["NNI_OUTPUT_DIR"] = dir;
    env["NNI_CODE_DIR"] = config_.trial_code_directory;
    env["NNI_TRIAL_COMMAND_CHANNEL"] = server_->url(t.trial_id);
    // NNI's rule: trialGpuNumber unset leaves every GPU visible, 0 hides them all.
    if (config_.trial_gpu_number) env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices(gpus);
    if (const double budget = tuner_->continued_budget(); budget > 0) {
      const std::string own = dir + "/checkpoint.pt";
      env[kCheckpointEnv] = own;
      env[kScheduleEpochsEnv] = std::to_string(static_cast<int>(std::ceil(budget - 1e-9)));
      // A re-run continues its own last epoch; a promotion continues its predecessor.
      const std::string from = fs::exists(own, ec) ? own : predecessor_checkpoint(t);
      if (!from.empty()) env[kResumeFromEnv] = from;
    }

    ActiveTrial a;
    a.index = index;
    a.gpus = std::move(gpus);
    try {
      a.process = std::make_unique<TrialProcess>(launch);
    } catch (const Error& e) {  // IoError (its files) or SystemError (fork, exec)
      if (gpus_) gpus_->release(a.gpus, gpu_share_);
      server_->remove_trial(t.trial_id);
      t.status = kFailed;
      t.started_at = t.ended_at = unix_now();
      t.reason = e.what();
      store_->trial_ended(t);
      trial_finished_for_algorithms(t, false);
      emit(RunnerEvent::kTrialEnded, &t, "");
      return;
    }
    a.started = steady::now();
    a.start_elapsed = elapsed();
    a.expected_end = next_expected_end_;
    next_expected_end_.reset();
    t.status = kRunning;
    t.started_at = unix_now();
    t.pid = a.process->pid();
    store_->trial_started(t.trial_id, *t.pid, *t.started_at);
    active_.push_back(std::move(a));
    emit(RunnerEvent::kTrialStarted, &t, "");
  }

  ActiveTrial* find_active(const std::string& trial_id) {
    for (ActiveTrial& a : active_)
      if (state_.trials[a.index].trial_id == trial_id) return &a;
    return nullptr;
  }

  void on_channel_event(ChannelEvent& e) {
    ActiveTrial* a = find_active(e.trial_id);
    if (a == nullptr) return;  // a trial that already ended
    TrialRecord& t = state_.trials[a->index];
    switch (e.kind) {
      case ChannelEvent::Kind::kParameterRequested:
        break;
      case ChannelEvent::Kind::kParameterSent:
        if (!t.parameter_sent) {
          t.parameter_sent = true;
          store_->parameter_sent(t.trial_id);
          emit(RunnerEvent::kParameterSent, &t, "");
        }
        break;
      case ChannelEvent::Kind::kWarning:
        emit(RunnerEvent::kWarning, &t, e.message);
        break;
      case ChannelEvent::Kind::kFault:
        request_stop(*a, StopCause::kFault, e.message);
        break;
      case ChannelEvent::Kind::kMetric:
        on_metric(*a, t, e.metric);
        break;
    }
  }

  void on_metric(ActiveTrial& a, TrialRecord& t, const Metric& m) {
    MetricRecord r;
    r.trial_id = t.trial_id;
    r.type = m.type;
    r.sequence = m.sequence;
    r.value = m.value;
    r.default_value = default_of(m.value);
    r.received_at = unix_now();
    store_->add_metric(r);
    if (m.type == MetricType::kFinal) {
      a.final_received = true;
      t.final_value = m.value;
      t.final_default = r.default_value;
      tuner_->receive_trial_result(
          t.sequence,  // the id the tuner was asked with (the wire id may be a string)
          t.parameters, r.default_value);
      emit(RunnerEvent::kMetric, &t, "FINAL");
      return;
    }
    t.intermediate_count += 1;
    t.latest_default = r.default_value;
    t.history.push_back(r.default_value);
    emit(RunnerEvent::kMetric, &t, "PERIODICAL " + std::to_string(m.sequence));
    if (assessor_ && a.stop == StopCause::kNone &&
        assessor_->assess_trial(t.trial_id, t.history) == AssessResult::kBad) {
      request_stop(a, StopCause::kAssessor,
                   assessor_->name() + ": result " + format_metric(r.default_value) + " at step " +
                       std::to_string(t.history.size()) + " is worse than the median");
    }
  }

  // NNI's stop: SIGINT to the trial, SIGKILL `kill_grace` later. The first cause
  // is the one recorded (a trial stopped early stays early-stopped when the
  // runner stops right after).
  void request_stop(ActiveTrial& a, StopCause cause, const std::string& reason) {
    if (a.stop == StopCause::kNone) {
      a.stop = cause;
      a.stop_reason = reason;
    }
    server_->close_trial(state_.trials[a.index].trial_id);
    if (!a.kill_at) {
      a.process->signal(SIGINT);
      a.kill_at = steady::now() + options_.kill_grace;
      emit(RunnerEvent::kTrialStopping, &state_.trials[a.index], reason);
    }
  }

  void enforce_deadlines() {
    const auto now = steady::now();
    for (ActiveTrial& a : active_) {
      if (a.kill_at && now >= *a.kill_at) {
        a.process->kill_group();
        a.kill_at = now + std::chrono::hours(24);  // once
      }
      if (config_.max_trial_duration_s && a.stop == StopCause::kNone &&
          now - a.started >= std::chrono::seconds(*config_.max_trial_duration_s)) {
        request_stop(a, StopCause::kTrialDuration,
                     "ran longer than maxTrialDuration " +
                         format_duration(static_cast<double>(*config_.max_trial_duration_s)));
      }
    }
  }

  void end_trial(std::size_t k) {
    skipped_proposals_ = 0;  // the tuner knows more: its next proposal may fit
    ActiveTrial a = std::move(active_[k]);
    active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(k));
    if (gpus_) gpus_->release(a.gpus, gpu_share_);
    TrialRecord& t = state_.trials[a.index];
    const ProcessExit exit = *a.process->poll();
    server_->remove_trial(t.trial_id);
    t.ended_at = unix_now();
    if (exit.exited()) {
      t.exit_code = exit.exit_code;
    } else {
      t.signal = exit.signal;
    }
    const std::string stderr_line =
        valid_utf8(last_line(paths_.trial_dir(t.trial_id) + "/trial.stderr"));
    auto with_stderr = [&](std::string s) {
      return stderr_line.empty() ? s : s + ": " + stderr_line;
    };
    switch (a.stop) {
      case StopCause::kFault:
        t.status = kFailed;
        t.reason = a.stop_reason;
        break;
      case StopCause::kRunnerStop:
        if (exit.exited() && exit.exit_code == 0 && a.final_received) {
          t.status = kSucceeded;  // it finished as the runner stopped
        } else {
          t.status = kUserCanceled;
          t.interrupted = true;
          t.reason = a.stop_reason + "; resume runs it again";
        }
        break;
      case StopCause::kUserCancel:
        if (exit.exited() && exit.exit_code == 0 && a.final_received) {
          t.status = kSucceeded;  // it finished as it was canceled
        } else {
          t.status = kUserCanceled;
          t.reason = a.stop_reason;
        }
        break;
      case StopCause::kReserve:
        if (exit.exited() && exit.exit_code == 0 && a.final_received) {
          t.status = kSucceeded;  // it finished as it was stopped
          break;
        }
        [[fallthrough]];
      case StopCause::kAssessor:
      case StopCause::kTrialDuration:
        t.status = kEarlyStopped;
        t.reason = a.stop_reason;
        break;
      case StopCause::kNone:
        if (exit.exited() && exit.exit_code == 0) {
          t.status = kSucceeded;
        } else if (!exit.exited() && (exit.signal == SIGINT || exit.signal == SIGTERM ||
                                      exit.signal == SIGKILL || exit.signal == SIGHUP)) {
          t.status = kUserCanceled;  // NNI: killed by a signal
          t.reason = exit.describe() + " (not sent by the runner)";
        } else {
          t.status = kFailed;
          t.reason = with_stderr(exit.describe());
        }
        break;
    }
    store_->trial_ended(t);
    trial_finished_for_algorithms(t, t.status == kSucceeded);
    emit(RunnerEvent::kTrialEnded, &t, "");
    if (t.status == kSucceeded && t.final_default) update_best_file();
  }

  void trial_finished_for_algorithms(const TrialRecord& t, bool succeeded) {
    if (t.interrupted) return;  // it runs again (this session or a resume)
    tuner_->trial_end(t.sequence, succeeded);
    if (assessor_) assessor_->trial_end(t.trial_id, succeeded);
  }

  void update_best_file() {
    const auto best = best_trial(state_.trials, state_.mode);
    if (!best) return;
    write_file_atomically(paths_.best_parameters(), best->parameters.dump(2) + "\n",
                          "the best parameters");
  }

  void abort_all() {
    for (ActiveTrial& a : active_) {
      a.process->kill_group();
      a.process->wait();
    }
    active_.clear();
  }

  RunResult finish() {
    state_.elapsed_s = elapsed();
    state_.experiment.elapsed_s = state_.elapsed_s;
    state_.experiment.status = stopping_ ? "STOPPED" : "DONE";
    state_.experiment.end_reason = end_reason_;
    store_->update_experiment(state_.experiment);
    RunResult r;
    r.mode = state_.mode;
    r.best = best_trial(state_.trials, state_.mode);
    if (r.best) {
      update_best_file();
      r.best_parameters_path = paths_.best_parameters();
    }
    emit(RunnerEvent::kEnd, nullptr, end_reason_);
    r.experiment = state_.experiment;
    r.trials = state_.trials;
    r.interrupted = stopping_;
    r.signal = stop_signal_;
    server_.reset();
    return r;
  }

  double elapsed() const {
    return base_elapsed_ + std::chrono::duration<double>(steady::now() - session_start_).count();
  }

  void note(const std::string& line) { emit(RunnerEvent::kNote, nullptr, line); }

  void emit(RunnerEvent event, const TrialRecord* trial, const std::string& detail) {
    state_.elapsed_s = elapsed();
    if (log_) {
      log_ << format_time(unix_now()) << "  " << event_line(event, trial, detail, state_) << "\n";
      log_.flush();
    }
    if (options_.observer != nullptr) options_.observer->on_event(event, trial, detail, state_);
  }

  const RunnerOptions& options_;
  ExperimentPaths paths_;
  std::optional<ExperimentStore> store_;
  std::ofstream log_;
  ExperimentConfig config_;
  RunnerState state_;
  std::unique_ptr<Tuner> tuner_;
  std::unique_ptr<Assessor> assessor_;
  std::optional<ChannelServer> server_;
  std::optional<Wakeup> wakeup_;  // after server_: stops calling it before it goes
  EnvironmentMap base_env_;
  std::vector<ActiveTrial> active_;
  std::vector<std::size_t> rerun_;
  std::optional<GpuScheduler> gpus_;  // trialGpuNumber > 0
  double gpu_share_ = 0;              // GPUs per trial: trialGpuNumber / maxTrialNumberPerGpu
  steady::time_point gpus_read_;
  bool waiting_for_gpu_ = false;
  steady::time_point session_start_ = steady::now();
  double base_elapsed_ = 0;
  bool stopping_ = false;
  bool killed_now_ = false;
  bool no_more_ = false;
  bool limit_ended_ = false;   // no_more_ because of maxTrialNumber / maxExperimentDuration
  bool search_ended_ = false;  // the final training's reserve is reached: no new trials
  int skipped_proposals_ = 0;  // proposals not started since a trial last ended
  struct Skipped {             // those of this pass of submit(), for one line
    int count = 0;
    double shortest = 1e300;
    double by = 0;
  } skipped_;
  steady::time_point last_reserve_check_{};
  std::optional<double> next_expected_end_;  // of the trial start_trial() starts next
  int stop_signal_ = 0;
  int server_threads_ = 0;
  steady::time_point last_control_check_{};
  std::string end_reason_;
};

}  // namespace

RunnerObserver::~RunnerObserver() = default;
void RunnerObserver::on_tick(const RunnerState&) {}

std::string random_id(std::size_t length, const std::string& alphabet) {
  static thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
           static_cast<std::uint64_t>(steady::now().time_since_epoch().count());
  }());
  std::string out;
  for (std::size_t i = 0; i < length; ++i) out += alphabet[rng() % alphabet.size()];
  return out;
}

bool experiment_running(const std::string& experiment_dir) {
  const int fd = ::open(ExperimentPaths{experiment_dir}.lock().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return locked;
}

std::optional<std::string> final_training_gpus(const ExperimentConfig& config) {
  if (!config.trial_gpu_number) return std::nullopt;
  std::vector<int> gpus;
  for (int k = 0; k < *config.trial_gpu_number; ++k) {
    if (config.gpu_indices.empty()) {
      gpus.push_back(k);
    } else if (k < static_cast<int>(config.gpu_indices.size())) {
      gpus.push_back(config.gpu_indices[static_cast<std::size_t>(k)]);
    }
  }
  return cuda_visible_devices(gpus);
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::string create_experiment(const ExperimentConfig& config, const NewExperimentOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(config.trial_code_directory, ec))
    throw ParamError(config.config_path + ": trialCodeDirectory " + config.trial_code_directory +
                     " is not a directory");
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
  const WarmStart warm = read_warm_start(options.warm_start, config.search_space);
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
    if (!warm.sources.empty()) save_warm_start(paths.warm_start(), warm);
    ExperimentStore::create(paths.database(), e);
  } catch (...) {
    // No half-made experiment is left to block the next run (the directory was empty).
    for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove_all(entry.path(), ec);
    if (!existed) fs::remove(dir, ec);
    throw;
  }
  return dir;
}

std::string event_line(RunnerEvent event, const TrialRecord* trial, const std::string& detail,
                       const RunnerState& state) {
  const std::string who = trial != nullptr ? trial_label(*trial) : "";
  switch (event) {
    case RunnerEvent::kBegin: {
      std::string s = "experiment " + state.experiment.id +
                      (detail == "resume" ? " resumed" : " started") + " in " +
                      state.experiment_dir + ": tuner " + state.tuner;
      if (!state.assessor.empty()) s += ", assessor " + state.assessor;
      s += ", concurrency " + std::to_string(state.concurrency);
      s += state.threads_per_trial > 0
               ? ", " + std::to_string(state.threads_per_trial) + " thread(s) per trial"
               : ", threads from OMP_NUM_THREADS";
      if (state.max_trial_number)
        s += ", max " + std::to_string(*state.max_trial_number) + " trials";
      return s;
    }
    case RunnerEvent::kTrialStarted: {
      std::string s = who + " started (pid " + std::to_string(trial->pid.value_or(0));
      if (trial->attempt > 1) s += ", attempt " + std::to_string(trial->attempt);
      return s + "): " + trial->parameters.dump();
    }
    case RunnerEvent::kParameterSent:
      return who + " fetched its parameters";
    case RunnerEvent::kMetric:
      if (detail == "FINAL") return who + " final result " + format_metric(trial->final_default);
      return who + " result " + std::to_string(trial->intermediate_count) + ": " +
             format_metric(trial->latest_default);
    case RunnerEvent::kTrialStopping:
      return who + " stopping (SIGINT): " + detail;
    case RunnerEvent::kTrialEnded: {
      std::string s = who + " " + trial->status + " after " +
                      format_duration(trial->duration(unix_now())) + ", " +
                      std::to_string(trial->intermediate_count) + " result(s), final " +
                      format_metric(trial->final_default);
      if (!trial->reason.empty()) s += ": " + trial->reason;
      return s;
    }
    case RunnerEvent::kWarning:
      return "warning: " + (who.empty() ? "" : who + ": ") + detail;
    case RunnerEvent::kNote:
      return detail;
    case RunnerEvent::kEnd: {
      std::map<std::string, int> counts;
      for (const TrialRecord& t : state.trials) counts[t.status] += 1;
      std::string s = "experiment " + state.experiment.id + " " + state.experiment.status +
                      (detail.empty() ? "" : " (" + detail + ")") + " after " +
                      format_duration(state.elapsed_s) + ": " +
                      std::to_string(state.trials.size()) + " trial(s)";
      for (const auto& [status, n] : counts) s += ", " + std::to_string(n) + " " + status;
      if (const auto best = best_trial(state.trials, state.mode))
        s += "; best " + trial_label(*best) + " " + format_metric(best->final_default);
      return s;
    }
  }
  return detail;
}

void wake_runner() noexcept { Wakeup::notify(); }

nlohmann::json LimitChange::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  if (max_trial_number) j["maxTrialNumber"] = *max_trial_number;
  if (max_experiment_duration_s) j["maxExperimentDuration"] = *max_experiment_duration_s;
  if (trial_concurrency) j["trialConcurrency"] = *trial_concurrency;
  return j;
}

LimitChange parse_limit_change(const nlohmann::json& value) {
  if (!value.is_object() || value.empty())
    throw ParamError(
        "limits: expected an object with maxTrialNumber, maxExperimentDuration "
        "or trialConcurrency, got " +
        json_brief(value));
  // A whole number in [low, high], or ParamError naming the field.
  auto whole = [](const nlohmann::json& v, const std::string& name, double low, double high) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) ||
        v.get<double>() != std::floor(v.get<double>()) || v.get<double>() < low ||
        v.get<double>() > high) {
      char range[64];
      std::snprintf(range, sizeof range, "a whole number from %.0f to %.0f", low, high);
      throw ParamError("limits: " + name + " must be " + range + ", got " + json_brief(v));
    }
    return static_cast<std::int64_t>(v.get<double>());
  };
  LimitChange change;
  for (const auto& [key, v] : value.items()) {
    if (key == "maxTrialNumber") {
      change.max_trial_number = whole(v, key, 1, 1e9);
    } else if (key == "maxExperimentDuration") {
      if (v.is_string()) {
        change.max_experiment_duration_s = parse_duration(v.get<std::string>());
        if (*change.max_experiment_duration_s < 1 ||
            *change.max_experiment_duration_s > 10LL * 366 * 86400)
          throw ParamError("limits: maxExperimentDuration " + json_quote(v.get<std::string>()) +
                           " is out of range (1 second to 10 years)");
      } else {
        change.max_experiment_duration_s = whole(v, key, 1, 10.0 * 366 * 86400);
      }
    } else if (key == "trialConcurrency") {
      change.trial_concurrency = static_cast<int>(whole(v, key, 1, 64));
    } else {
      throw ParamError("limits: unknown field " + json_quote(key) +
                       " (maxTrialNumber, maxExperimentDuration, trialConcurrency)");
    }
  }
  return change;
}

RunResult run_experiment(const std::string& experiment_dir, const RunnerOptions& options) {
  Session session(experiment_dir, options);
  return session.run();
}

}  // namespace nnilib
