#include "nnilib/runner/runner.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include <sched.h>
#include <unistd.h>

#include "nnilib/common/error.h"
#include "nnilib/runner/experiment_report.h"
#include "runner/control_requests.h"
#include "runner/experiment_directory.h"
#include "runner/final_reserve.h"
#include "runner/gpu_slots.h"
#include "runner/running_trials.h"
#include "runner/session_context.h"
#include "runner/stop_conditions.h"
#include "runner/wakeup.h"

namespace nnilib {
namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

// Proposals the runner passes over, when none can end in time, before it waits for a
// running trial to end (the tuner may then propose a shorter one).
constexpr int kMaxSkippedProposals = 8;

using Intake = StopConditions::Intake;

// One session of an experiment: sets it up, then its loop starts trials as the tuner
// proposes them and the limits allow, until a stop condition; the parts it drives are
// the running trials, the final training's reserve, the dashboard's requests and the GPUs.
class Session : private ControlTarget {
 public:
  Session(const std::string& dir, const RunnerOptions& options) : ctx_(dir, options) {}

  RunResult run() {
    ctx_.paths.require_existing();
    std::error_code ec;  // experiments made before directories were private become so
    fs::permissions(ctx_.paths.dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    ExperimentLock lock(ctx_.paths);
    ctx_.store.emplace(ExperimentStore::open(ctx_.paths.database(), false));
    ctx_.log.open(ctx_.paths.log(), std::ios::app);
    try {
      setup();
      loop();
    } catch (...) {
      if (running_) running_->abort_all();
      try {
        ctx_.state.experiment.status = "ERROR";
        ctx_.state.experiment.end_reason = "the runner failed";
        ctx_.state.experiment.elapsed_s = ctx_.elapsed();
        ctx_.store->update_experiment(ctx_.state.experiment);
      } catch (...) {
      }
      throw;
    }
    RunResult result = finish();
    if (ctx_.options.after_search && !result.interrupted) ctx_.options.after_search(result);
    return result;
  }

 private:
  // ---- setup --------------------------------------------------------------

  void setup() {
    SessionContext::Loaded loaded = ctx_.load();
    rerun_ = std::move(loaded.rerun);
    enqueued_ = std::move(loaded.enqueued);
    const ExperimentConfig& config = ctx_.config;
    RunnerState& state = ctx_.state;
    const bool resumed = state.experiment.sessions > 0;
    // Threads: cores shared among concurrent trials unless the user chose.
    const int cores = ctx_.options.cores > 0 ? ctx_.options.cores : available_cores();
    EnvironmentMap base_env =
        trial_base_environment(cores, config.trial_concurrency, state.threads_per_trial);
    gpus_ = GpuSlots::open(config);

    state.experiment.sessions += 1;
    state.experiment.status = "RUNNING";
    state.experiment.end_reason.clear();
    ctx_.store->update_experiment(state.experiment);

    ChannelServer::Options server_options;
    // Two per running trial, and room for stray connections (each dropped after 1 s).
    server_options.threads = std::min(64, 2 * config.trial_concurrency + 48);
    server_threads_ = server_options.threads;
    ctx_.server.emplace(server_options);
    running_.emplace(ctx_, gpus_, std::move(base_env));
    stops_.emplace(ctx_, *running_, reserve_);
    // A trial's exit (SIGCHLD) or a stop signal (wake_runner) ends the loop's wait.
    wakeup_.emplace([this] { ctx_.server->wake(); });
    ctx_.session_start = steady::now();
    ctx_.emit(RunnerEvent::kBegin, nullptr, resumed ? "resume" : "new");
    for (const std::string& line : loaded.notes) ctx_.note(line);
  }

  // ---- the loop -----------------------------------------------------------

  void loop() {
    auto last_tick = steady::now();
    check_signals();
    submit();  // the first trials start now, not after the loop's first wait
    for (;;) {
      check_signals();
      for (const std::string& result : control_.poll(*ctx_.store, *this))
        ctx_.note("dashboard: " + result);
      // Sleeps until a channel event, a trial's exit, a signal or the next deadline:
      // no periodic wake-ups that would take a core from a training trial.
      for (ChannelEvent& e : ctx_.server->wait_events(time_to_next_deadline(last_tick)))
        running_->on_channel_event(e);
      if (running_->reap() > 0) skipped_proposals_ = 0;  // the tuner knows more
      running_->enforce_deadlines();
      stops_->check_limits();
      submit();
      if (running_->empty() && !stops_->open()) break;
      const auto now = steady::now();
      if (now - last_tick >= std::chrono::seconds(1)) {
        last_tick = now;
        ctx_.state.elapsed_s = ctx_.elapsed();
        ctx_.store->set_elapsed(ctx_.state.elapsed_s);
        if (ctx_.options.observer != nullptr) ctx_.options.observer->on_tick(ctx_.state);
      }
    }
  }

  // Until the next thing the loop must do on its own: the 1 s tick (elapsed time, live
  // view), a running trial's deadline (SIGKILL after the grace period,
  // maxTrialDuration), maxExperimentDuration less the reserve; at most poll_interval.
  std::chrono::milliseconds time_to_next_deadline(steady::time_point last_tick) const {
    const auto now = steady::now();
    steady::time_point next =
        std::min(last_tick + std::chrono::seconds(1), now + ctx_.options.poll_interval);
    if (const auto trial = running_->next_deadline()) next = std::min(next, *trial);
    if (ctx_.config.max_experiment_duration_s && stops_->open()) {
      const double left = static_cast<double>(*ctx_.config.max_experiment_duration_s) -
                          reserve_.seconds() - ctx_.elapsed();
      next = std::min(next, now + std::chrono::milliseconds(
                                      static_cast<int64_t>(std::max(0.0, left) * 1000.0 + 1)));
    }
    // Whole milliseconds, rounded up so that the deadline has passed on waking.
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now);
    return std::max(std::chrono::milliseconds(0), wait);
  }

  void check_signals() {
    const RunnerOptions& options = ctx_.options;
    if (!stops_->stopping() && options.stop_signal) {
      if (const int sig = options.stop_signal(); sig != 0) {
        stop_signal_ = sig;
        stops_->stop("interrupted by " + signal_name(sig));
      }
    }
    if (stops_->stopping() && !killed_now_ && options.kill_now && options.kill_now()) {
      killed_now_ = true;
      ctx_.note("second signal: killing every running trial now");
      running_->kill_all();
    }
  }

  // ---- the dashboard's requests (ControlTarget) ----------------------------

  std::string cancel_trial(const std::string& trial_id) override {
    return running_->cancel(trial_id);
  }

  std::string stop_experiment() override {
    if (stops_->stopping()) return "the experiment is already stopping";
    stops_->stop("stopped from the dashboard");
    return "experiment stopped; fmnist-nas resume continues it";
  }

  std::string change_limits(const ExperimentLimits& change) override {
    if (change.trial_concurrency && 2 * *change.trial_concurrency > server_threads_)
      throw ParamError("trialConcurrency " + std::to_string(*change.trial_concurrency) +
                       " is more than this session's channel serves (" +
                       std::to_string(server_threads_ / 2) + "); resume with it instead");
    ctx_.config.apply(change);
    ctx_.state.max_trial_number = ctx_.config.max_trial_number;
    ctx_.state.concurrency = ctx_.config.trial_concurrency;
    ctx_.state.experiment.config = ctx_.config.to_json();
    ctx_.state.experiment.elapsed_s = ctx_.elapsed();
    ctx_.store->update_experiment(ctx_.state.experiment);
    // A raised limit lets a search that a limit had ended go on (check_limits and
    // submit() decide again); a stop signal or the tuner's end stay final.
    if (stops_->reopen()) skipped_proposals_ = 0;
    return "limits set: " + change.describe();
  }

  // ---- starting trials -----------------------------------------------------

  void submit() {
    const ExperimentConfig& config = ctx_.config;
    while (stops_->open() && skipped_proposals_ < kMaxSkippedProposals &&
           static_cast<int>(running_->size()) < config.trial_concurrency) {
      const auto count = static_cast<std::int64_t>(ctx_.state.trials.size());
      if (rerun_.empty() && config.max_trial_number && count >= *config.max_trial_number) {
        stops_->no_more(Intake::kLimitReached,
                        "maxTrialNumber " + std::to_string(*config.max_trial_number) + " reached");
        break;
      }
      std::vector<int> gpus;
      if (gpus_) {
        auto got = gpus_->acquire([this](const std::string& line) { ctx_.note(line); });
        if (!got) break;  // asked again on the next pass of the loop
        gpus = std::move(*got);
      }
      if (!rerun_.empty()) {
        const std::size_t index = rerun_.front();
        rerun_.erase(rerun_.begin());
        running_->start(index, std::move(gpus), std::nullopt);
        continue;
      }
      if (!propose(count, std::move(gpus))) break;
    }
    reserve_.note_skipped();
  }

  // Trial `sequence` trains the next enqueued configuration, else what the tuner
  // proposes; it starts when it can end before the reserve. False when submit() should
  // stop asking for now.
  bool propose(std::int64_t sequence, std::vector<int> gpus) {
    Tuner& tuner = *ctx_.tuner;
    const bool enqueued = !enqueued_.empty();
    std::optional<nlohmann::json> params;
    if (enqueued) {
      params = std::move(enqueued_.front());
      enqueued_.erase(enqueued_.begin());
    } else {
      params = tuner.generate_parameters(sequence);
    }
    if (!params) {
      if (gpus_) gpus_->release(gpus);
      if (!tuner.exhausted() && !running_->empty()) return false;  // asked again later
      stops_->no_more(
          Intake::kClosed,
          tuner.exhausted()
              ? "the tuner has no more parameters (" + ctx_.config.tuner.name +
                    ": the search space is exhausted)"
              : "the tuner waits for trials, and none runs (" + ctx_.config.tuner.name + ")");
      return false;
    }
    TrialRecord t;
    t.trial_id = new_trial_id(ctx_.state.trials);
    t.sequence = sequence;
    // Hyperband: "0-3_0_7"; an enqueued configuration is not the tuner's.
    t.parameter_id = enqueued ? nlohmann::json(sequence) : tuner.wire_parameter_id(sequence);
    t.parameters = *params;
    t.created_at = unix_now();
    std::optional<double> expected_end;
    if (!reserve_.admits(t, expected_end)) {
      // The tuner learns it ended without a result; the next proposal may be shorter.
      if (enqueued)
        ctx_.note(
            "an enqueued configuration was not started: it cannot end before the "
            "final training's reserve");
      else
        tuner.trial_end(sequence, false);
      if (gpus_) gpus_->release(gpus);
      if (++skipped_proposals_ >= kMaxSkippedProposals) {
        reserve_.note_skipped();
        if (running_->empty())
          stops_->no_more(
              Intake::kClosed,
              "no trial the tuner proposes can end before the final training's reserve (" +
                  reserve_.kept(reserve_.seconds()) + ")");
        return false;  // asked again when a running trial ends
      }
      return true;
    }
    reserve_.note_skipped();
    ctx_.store->insert_trial(t);
    ctx_.state.trials.push_back(t);
    running_->start(ctx_.state.trials.size() - 1, std::move(gpus), expected_end);
    return true;
  }

  // ---- the end -------------------------------------------------------------

  RunResult finish() {
    const bool stopped = stops_->stopping();
    ctx_.state.elapsed_s = ctx_.elapsed();
    ctx_.state.experiment.elapsed_s = ctx_.state.elapsed_s;
    ctx_.state.experiment.status = stopped ? "STOPPED" : "DONE";
    ctx_.state.experiment.end_reason = stops_->end_reason();
    ctx_.store->update_experiment(ctx_.state.experiment);
    RunResult r;
    r.mode = ctx_.state.mode;
    r.best = best_trial(ctx_.state.trials, ctx_.state.mode);
    if (r.best) {
      ctx_.update_best_file();
      r.best_parameters_path = ctx_.paths.best_parameters();
    }
    ctx_.emit(RunnerEvent::kEnd, nullptr, stops_->end_reason());
    r.experiment = ctx_.state.experiment;
    r.trials = ctx_.state.trials;
    r.interrupted = stopped;
    r.signal = stop_signal_;
    wakeup_.reset();
    ctx_.server.reset();
    return r;
  }

  SessionContext ctx_;
  std::optional<GpuSlots> gpus_;  // trialGpuNumber > 0
  std::optional<RunningTrials> running_;
  FinalReserve reserve_{ctx_};
  ControlRequests control_;
  std::optional<Wakeup> wakeup_;  // stops calling the server before it goes
  std::vector<std::size_t> rerun_;
  std::vector<nlohmann::json> enqueued_;  // enqueued configurations not started yet
  std::optional<StopConditions> stops_;   // after running_ and reserve_, which it uses
  bool killed_now_ = false;               // a second signal killed the running trials
  int skipped_proposals_ = 0;             // proposals not started since a trial last ended
  int stop_signal_ = 0;
  int server_threads_ = 0;
};

}  // namespace

RunnerObserver::~RunnerObserver() = default;
void RunnerObserver::on_tick(const RunnerState&) {}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
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

RunResult run_experiment(const std::string& experiment_dir, const RunnerOptions& options) {
  Session session(experiment_dir, options);
  return session.run();
}

}  // namespace nnilib
