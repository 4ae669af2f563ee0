#include "runner/running_trials.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "nnilib/common/error.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/runner/experiment_report.h"
#include "nnilib/trial/trial_environment.h"
#include "runner/experiment_directory.h"
#include "runner/trial_time.h"
#include "runner/warm_start.h"

namespace nnilib {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

TrialOutcome trial_outcome(StopCause cause, const std::string& stop_reason, const ProcessExit& exit,
                           bool final_received, const std::string& stderr_line) {
  // A trial that sent its final result and exited 0 as it was asked to stop finished.
  const bool finished = exit.exited() && exit.exit_code == 0 && final_received;
  switch (cause) {
    case StopCause::kFault:
      return {kFailed, stop_reason};
    case StopCause::kRunnerStop:
      if (finished) return {kSucceeded, ""};
      return {kUserCanceled, stop_reason + "; resume runs it again", true};
    case StopCause::kUserCancel:
      if (finished) return {kSucceeded, ""};
      return {kUserCanceled, stop_reason};
    case StopCause::kReserve:
      if (finished) return {kSucceeded, ""};
      return {kEarlyStopped, stop_reason};
    case StopCause::kAssessor:
    case StopCause::kTrialDuration:
      return {kEarlyStopped, stop_reason};
    case StopCause::kNone:
      break;
  }
  if (exit.exited() && exit.exit_code == 0) return {kSucceeded, ""};
  if (!exit.exited() && (exit.signal == SIGINT || exit.signal == SIGTERM ||
                         exit.signal == SIGKILL || exit.signal == SIGHUP))
    return {kUserCanceled, exit.describe() + " (not sent by the runner)"};  // NNI: killed
  return {kFailed, stderr_line.empty() ? exit.describe() : exit.describe() + ": " + stderr_line};
}

EnvironmentMap trial_base_environment(int cores, int concurrency, int& threads_per_trial) {
  EnvironmentMap env = environment_without_nni();
  // An empty value counts as unset (and would only make OpenMP complain).
  for (const char* var : {"OMP_NUM_THREADS", "MKL_NUM_THREADS"}) {
    auto it = env.find(var);
    if (it != env.end() && it->second.empty()) env.erase(it);
  }
  if (env.count("OMP_NUM_THREADS") == 0) {
    threads_per_trial = std::max(1, cores / concurrency);
    env["OMP_NUM_THREADS"] = std::to_string(threads_per_trial);
    if (env.count("MKL_NUM_THREADS") == 0)
      env["MKL_NUM_THREADS"] = std::to_string(threads_per_trial);
  } else {
    threads_per_trial = 0;
  }
  return env;
}

RunningTrials::RunningTrials(SessionContext& session, std::optional<GpuSlots>& gpus,
                             EnvironmentMap base_env)
    : session_(session), gpus_(gpus), base_env_(std::move(base_env)) {}

// The checkpoint of the trial this one continues (predecessor_of: the same
// configuration's trial with a final result and the largest smaller TRIAL_BUDGET); ""
// when there is none or it left none. It may still be exiting: its checkpoint was
// written before its final result.
std::string RunningTrials::predecessor_checkpoint(const TrialRecord& t) const {
  const TrialRecord* from = predecessor_of(t, session_.state.trials);
  if (from == nullptr) return "";
  const std::string path = session_.paths.trial_dir(from->trial_id) + "/checkpoint.pt";
  std::error_code ec;
  return fs::exists(path, ec) ? path : "";
}

ProcessLaunch RunningTrials::launch_of(const TrialRecord& t, const std::string& dir,
                                       const std::vector<int>& gpus) const {
  const ExperimentConfig& config = session_.config;
  ProcessLaunch launch;
  launch.command = config.trial_command;
  launch.working_directory = config.trial_code_directory;
  launch.stdout_path = dir + "/trial.stdout";
  launch.stderr_path = dir + "/trial.stderr";
  launch.environment = base_env_;
  EnvironmentMap& env = launch.environment;
  env["NNI_PLATFORM"] = "local";
  env["NNI_EXP_ID"] = session_.state.experiment.id;
  env["NNI_TRIAL_JOB_ID"] = t.trial_id;
  env["NNI_TRIAL_SEQ_ID"] = std::to_string(t.sequence);
  env["NNI_SYS_DIR"] = dir;
  env["NNI_OUTPUT_DIR"] = dir;
  env["NNI_CODE_DIR"] = config.trial_code_directory;
  env["NNI_TRIAL_COMMAND_CHANNEL"] = session_.server->url(t.trial_id);
  // NNI's rule: trialGpuNumber unset leaves every GPU visible, 0 hides them all.
  if (config.trial_gpu_number) env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices(gpus);
  const double budget = session_.tuner->continued_budget();
  if (budget > 0 && !session_.is_enqueued(t)) {
    const std::string own = dir + "/checkpoint.pt";
    env[kCheckpointEnv] = own;
    env[kScheduleEpochsEnv] = std::to_string(static_cast<int>(std::ceil(budget - 1e-9)));
    // A re-run continues its own last epoch; a promotion continues its predecessor.
    std::error_code ec;
    const std::string from = fs::exists(own, ec) ? own : predecessor_checkpoint(t);
    if (!from.empty()) env[kResumeFromEnv] = from;
  }
  return launch;
}

void RunningTrials::start(std::size_t index, std::vector<int> gpus,
                          std::optional<double> expected_end) {
  TrialRecord& t = session_.state.trials[index];
  const std::string dir = prepare_trial_directory(session_.paths, t);
  ParameterRecord record;
  record.parameter_id = t.parameter_id;
  // NNI's word for a configuration the user gave (the web UI's "customized trial").
  record.parameter_source = session_.is_enqueued(t) ? "customized" : "algorithm";
  record.parameters = t.parameters;
  record.parameter_index = 0;
  session_.server->add_trial(t.trial_id, record);

  ActiveTrial a;
  a.index = index;
  a.gpus = std::move(gpus);
  try {
    a.process = std::make_unique<TrialProcess>(launch_of(t, dir, a.gpus));
  } catch (const Error& e) {  // IoError (its files) or SystemError (fork, exec)
    if (gpus_) gpus_->release(a.gpus);
    session_.server->remove_trial(t.trial_id);
    t.status = kFailed;
    t.started_at = t.ended_at = unix_now();
    t.reason = e.what();
    session_.store->trial_ended(t);
    finished_for_algorithms(t, false);
    session_.emit(RunnerEvent::kTrialEnded, &t, "");
    return;
  }
  a.started = steady::now();
  a.start_elapsed = session_.elapsed();
  a.expected_end = expected_end;
  t.status = kRunning;
  t.started_at = unix_now();
  t.pid = a.process->pid();
  session_.store->trial_started(t.trial_id, *t.pid, *t.started_at);
  active_.push_back(std::move(a));
  session_.emit(RunnerEvent::kTrialStarted, &t, "");
}

ActiveTrial* RunningTrials::find(const std::string& trial_id) {
  for (ActiveTrial& a : active_)
    if (session_.state.trials[a.index].trial_id == trial_id) return &a;
  return nullptr;
}

void RunningTrials::on_channel_event(ChannelEvent& e) {
  ActiveTrial* a = find(e.trial_id);
  if (a == nullptr) return;  // a trial that already ended
  TrialRecord& t = session_.state.trials[a->index];
  switch (e.kind) {
    case ChannelEvent::Kind::kParameterRequested:
      break;
    case ChannelEvent::Kind::kParameterSent:
      if (!t.parameter_sent) {
        t.parameter_sent = true;
        session_.store->parameter_sent(t.trial_id);
        session_.emit(RunnerEvent::kParameterSent, &t, "");
      }
      break;
    case ChannelEvent::Kind::kWarning:
      session_.emit(RunnerEvent::kWarning, &t, e.message);
      break;
    case ChannelEvent::Kind::kFault:
      request_stop(*a, StopCause::kFault, e.message);
      break;
    case ChannelEvent::Kind::kMetric:
      on_metric(*a, t, e.metric);
      break;
  }
}

void RunningTrials::on_metric(ActiveTrial& a, TrialRecord& t, const Metric& m) {
  MetricRecord r;
  r.trial_id = t.trial_id;
  r.type = m.type;
  r.sequence = m.sequence;
  r.value = m.value;
  r.default_value = default_of(m.value);
  r.received_at = unix_now();
  session_.store->add_metric(r);
  if (m.type == MetricType::kFinal) {
    a.final_received = true;
    t.final_value = m.value;
    t.final_default = r.default_value;
    if (session_.is_enqueued(t))  // not the tuner's: a result from elsewhere
      session_.tuner->import_data(
          {{parameters_for(*session_.tuner, t.parameters), r.default_value}});
    else
      session_.tuner->receive_trial_result(
          t.sequence,  // the id the tuner was asked with (the wire id may be a string)
          t.parameters, r.default_value);
    session_.emit(RunnerEvent::kMetric, &t, "FINAL");
    return;
  }
  t.intermediate_count += 1;
  t.latest_default = r.default_value;
  t.history.push_back(r.default_value);
  session_.emit(RunnerEvent::kMetric, &t, "PERIODICAL " + std::to_string(m.sequence));
  Assessor* assessor = session_.assessor.get();
  if (assessor != nullptr && a.stop == StopCause::kNone &&
      assessor->assess_trial(t.trial_id, t.history) == AssessResult::kBad) {
    request_stop(a, StopCause::kAssessor,
                 assessor->name() + ": result " + format_metric(r.default_value) + " at step " +
                     std::to_string(t.history.size()) + " is worse than the median");
  }
}

void RunningTrials::request_stop(ActiveTrial& a, StopCause cause, const std::string& reason) {
  if (a.stop == StopCause::kNone) {
    a.stop = cause;
    a.stop_reason = reason;
  }
  session_.server->close_trial(session_.state.trials[a.index].trial_id);
  if (!a.kill_at) {
    a.process->signal(SIGINT);
    a.kill_at = steady::now() + session_.options.kill_grace;
    session_.emit(RunnerEvent::kTrialStopping, &session_.state.trials[a.index], reason);
  }
}

void RunningTrials::stop_all(StopCause cause, const std::string& reason) {
  for (ActiveTrial& a : active_) request_stop(a, cause, reason);
}

std::string RunningTrials::cancel(const std::string& trial_id) {
  ActiveTrial* a = find(trial_id);
  if (a == nullptr) return "refused: trial " + trial_id + " is not running";
  const TrialRecord& t = session_.state.trials[a->index];
  if (a->stop != StopCause::kNone) return trial_label(t) + " is already stopping";
  request_stop(*a, StopCause::kUserCancel, "canceled from the dashboard");
  return trial_label(t) + " canceled";
}

void RunningTrials::kill_all() {
  for (ActiveTrial& a : active_) a.process->kill_group();
}

void RunningTrials::enforce_deadlines() {
  const auto now = steady::now();
  const auto& limit = session_.config.max_trial_duration_s;
  for (ActiveTrial& a : active_) {
    if (a.kill_at && now >= *a.kill_at) {
      a.process->kill_group();
      a.kill_at = now + std::chrono::hours(24);  // once
    }
    if (limit && a.stop == StopCause::kNone && now - a.started >= std::chrono::seconds(*limit)) {
      request_stop(
          a, StopCause::kTrialDuration,
          "ran longer than maxTrialDuration " + format_duration(static_cast<double>(*limit)));
    }
  }
}

std::optional<steady::time_point> RunningTrials::next_deadline() const {
  std::optional<steady::time_point> next;
  auto take = [&next](steady::time_point t) { next = next ? std::min(*next, t) : t; };
  const auto& limit = session_.config.max_trial_duration_s;
  for (const ActiveTrial& a : active_) {
    if (a.kill_at) take(*a.kill_at);
    if (limit && a.stop == StopCause::kNone) take(a.started + std::chrono::seconds(*limit));
  }
  return next;
}

int RunningTrials::reap() {
  std::vector<std::size_t> ended;
  for (std::size_t k = 0; k < active_.size(); ++k)
    if (active_[k].process->poll()) ended.push_back(k);
  if (ended.empty()) return 0;
  // Events a trial sent just before exiting are handled before its end.
  for (ChannelEvent& e : session_.server->wait_events(std::chrono::milliseconds(0)))
    on_channel_event(e);
  for (std::size_t k = ended.size(); k-- > 0;) end(ended[k]);
  return static_cast<int>(ended.size());
}

void RunningTrials::end(std::size_t k) {
  ActiveTrial a = std::move(active_[k]);
  active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(k));
  if (gpus_) gpus_->release(a.gpus);
  TrialRecord& t = session_.state.trials[a.index];
  const ProcessExit exit = *a.process->poll();
  session_.server->remove_trial(t.trial_id);
  t.ended_at = unix_now();
  if (exit.exited()) {
    t.exit_code = exit.exit_code;
  } else {
    t.signal = exit.signal;
  }
  const std::string stderr_line =
      valid_utf8(last_line(session_.paths.trial_dir(t.trial_id) + "/trial.stderr"));
  TrialOutcome outcome = trial_outcome(a.stop, a.stop_reason, exit, a.final_received, stderr_line);
  t.status = outcome.status;
  if (!outcome.reason.empty()) t.reason = outcome.reason;
  if (outcome.interrupted) t.interrupted = true;
  session_.store->trial_ended(t);
  finished_for_algorithms(t, t.status == kSucceeded);
  session_.emit(RunnerEvent::kTrialEnded, &t, "");
  if (t.status == kSucceeded && t.final_default) session_.update_best_file();
}

void RunningTrials::finished_for_algorithms(const TrialRecord& t, bool succeeded) {
  if (t.interrupted) return;  // it runs again (this session or a resume)
  if (!session_.is_enqueued(t)) session_.tuner->trial_end(t.sequence, succeeded);
  if (session_.assessor) session_.assessor->trial_end(t.trial_id, succeeded);
}

void RunningTrials::abort_all() {
  for (ActiveTrial& a : active_) {
    a.process->kill_group();
    a.process->wait();
  }
  active_.clear();
}

}  // namespace nnilib
