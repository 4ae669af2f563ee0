#include "runner/channel_server.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "nnilib/common/error.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/common/secret.h"

namespace nnilib {
namespace {

using clock = std::chrono::steady_clock;
using nlohmann::json;

std::string excerpt(const std::string& text, std::size_t max = 100) {
  std::string s = text.substr(0, max);
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return text.size() > max ? s + "..." : s;
}

// A request path /env/<env>/<trial>/<secret>, split; false when it is not one.
bool split_path(const std::string& path, const std::string& prefix, std::string& trial,
                std::string& secret) {
  if (path.rfind(prefix, 0) != 0) return false;
  const std::string rest = path.substr(prefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return false;
  trial = rest.substr(0, slash);
  secret = rest.substr(slash + 1);
  return !secret.empty() && secret.find('/') == std::string::npos;
}

}  // namespace

ChannelServer::ChannelServer(Options options)
    : options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  // Bounded: each running trial needs two (a long poll and a report); the rest absorb
  // connections from other processes, each dropped after read_timeout of silence.
  const int threads = std::clamp(options_.threads, 2, 64);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(options_.max_body_bytes);
  server_->set_read_timeout(options_.read_timeout);
  server_->set_write_timeout(options_.read_timeout);
  server_->set_keep_alive_timeout(std::max<time_t>(1, options_.read_timeout.count()));
  const std::string prefix = "/env/" + options_.env_name + "/";
  server_->Put(R"(/.*)", [this, prefix](const httplib::Request& req, httplib::Response& res) {
    int status = 404;
    std::string id, secret;
    if (split_path(req.path, prefix, id, secret))
      handle_put(id, secret, req.get_header_value("Content-Type"), req.body, status);
    res.status = status;  // 200 with an empty body, even to a bad command (NNI)
  });
  server_->Get(R"(/.*)", [this, prefix](const httplib::Request& req, httplib::Response& res) {
    std::string id, secret, body;
    res.status = split_path(req.path, prefix, id, secret) ? handle_get(id, secret, body) : 404;
    if (res.status == 200) res.set_content(body, "application/json");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw SystemError("cannot bind a port on 127.0.0.1 for the trials' NNI channel");
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  const auto give_up = clock::now() + std::chrono::seconds(10);
  while (!server_->is_running() && clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_->is_running()) {
    server_->stop();
    listener_.join();
    throw SystemError("the trials' NNI channel server on 127.0.0.1:" + std::to_string(port_) +
                      " did not start");
  }
}

ChannelServer::~ChannelServer() {
  close_all();
  server_->stop();
  if (listener_.joinable()) listener_.join();
}

std::string ChannelServer::url(const std::string& trial_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = trials_.find(trial_id);
  if (it == trials_.end()) return "";
  return "http://127.0.0.1:" + std::to_string(port_) + "/env/" + options_.env_name + "/" +
         trial_id + "/" + it->second.secret;
}

void ChannelServer::add_trial(const std::string& trial_id, const ParameterRecord& record) {
  std::string secret = random_secret("a channel secret");
  std::lock_guard<std::mutex> lock(mutex_);
  trials_.erase(trial_id);
  trials_.emplace(trial_id, TrialChannel{record, MetricChecker(trial_id, record.parameter_id),
                                         std::move(secret)});
  changed_.notify_all();
}

ChannelServer::TrialChannel* ChannelServer::find(const std::string& trial_id,
                                                 const std::string& secret) {
  const auto it = trials_.find(trial_id);
  if (it == trials_.end() || !same_secret(it->second.secret, secret)) return nullptr;
  return &it->second;
}

void ChannelServer::close_trial(const std::string& trial_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = trials_.find(trial_id);
  if (it != trials_.end()) it->second.closed = true;
  changed_.notify_all();
}

void ChannelServer::remove_trial(const std::string& trial_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  trials_.erase(trial_id);
  changed_.notify_all();
}

void ChannelServer::close_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  all_closed_ = true;
  changed_.notify_all();
}

std::vector<ChannelEvent> ChannelServer::wait_events(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_for(lock, timeout, [this] { return !events_.empty() || woken_; });
  woken_ = false;
  std::vector<ChannelEvent> out(std::make_move_iterator(events_.begin()),
                                std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

void ChannelServer::wake() {
  std::lock_guard<std::mutex> lock(mutex_);
  woken_ = true;
  changed_.notify_all();
}

void ChannelServer::push(ChannelEvent event) {
  event.message = valid_utf8(event.message);  // it quotes what a trial sent
  events_.push_back(std::move(event));
  changed_.notify_all();
}

void ChannelServer::fault(const std::string& trial_id, TrialChannel& trial,
                          const std::string& message) {
  if (trial.faulted) return;  // the first fault is the reason; the trial is being stopped
  trial.faulted = true;
  ChannelEvent e;
  e.kind = ChannelEvent::Kind::kFault;
  e.trial_id = trial_id;
  e.message = message;
  push(std::move(e));
}

void ChannelServer::handle_put(const std::string& trial_id, const std::string& secret,
                               const std::string& content_type, const std::string& body,
                               int& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  TrialChannel* found = find(trial_id, secret);
  if (found == nullptr) return;  // 404: not a trial of this experiment, or not its secret
  status = 200;
  TrialChannel& trial = *found;
  auto warn = [&](const std::string& message) {
    ChannelEvent e;
    e.kind = ChannelEvent::Kind::kWarning;
    e.trial_id = trial_id;
    e.message = message;
    push(std::move(e));
  };
  // NNI (express.json) only reads bodies declared as JSON; others are dropped unread.
  if (content_type.rfind("application/json", 0) != 0) {
    warn("PUT without Content-Type: application/json ignored, as NNI ignores it (Content-Type \"" +
         content_type + "\", body " + excerpt(body) + ")");
    return;
  }
  if (const std::string deep = json_depth_problem(body); !deep.empty()) {
    fault(trial_id, trial, "malformed command: the PUT body is " + deep);
    return;
  }
  const json command = json::parse(body, nullptr, false);
  if (command.is_discarded() || !command.is_object()) {
    fault(trial_id, trial,
          "malformed command: the PUT body is not a JSON object: " + excerpt(body));
    return;
  }
  auto type = command.find("type");
  if (type == command.end() || !type->is_string()) {
    fault(trial_id, trial, "malformed command: no string \"type\": " + excerpt(body));
    return;
  }
  if (*type == "request_parameter") {
    if (trial.requested) {
      warn(
          "request_parameter sent again (NNI expects one per trial); the same parameters are "
          "sent again");
    }
    trial.requested = true;
    trial.sent = false;
    ChannelEvent e;
    e.kind = ChannelEvent::Kind::kParameterRequested;
    e.trial_id = trial_id;
    push(std::move(e));
    return;
  }
  if (*type == "metric") {
    auto metric = command.find("metric");
    if (metric == command.end()) {
      fault(trial_id, trial, "malformed command: metric command without \"metric\"");
      return;
    }
    if (trial.faulted) return;
    // What one trial may store: its metrics go to the database, so a runaway (or
    // hostile) trial is failed before it fills the disk.
    trial.metric_bytes += body.size();
    if (++trial.metric_count > options_.max_metrics_per_trial ||
        trial.metric_bytes > options_.max_metric_bytes_per_trial) {
      fault(trial_id, trial,
            "too many results: more than " + std::to_string(options_.max_metrics_per_trial) +
                " metrics or " + std::to_string(options_.max_metric_bytes_per_trial >> 20) +
                " MiB of them from one trial");
      return;
    }
    try {
      ChannelEvent e;
      e.kind = ChannelEvent::Kind::kMetric;
      e.trial_id = trial_id;
      e.metric = trial.checker.accept(*metric);
      push(std::move(e));
    } catch (const ProtocolError& error) {
      fault(trial_id, trial, std::string("malformed ") + error.what());
    }
    return;
  }
  fault(trial_id, trial, "malformed command: unknown type " + type->dump());
}

int ChannelServer::handle_get(const std::string& trial_id, const std::string& secret,
                              std::string& body) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto deadline = clock::now() + options_.poll_timeout;
  for (;;) {
    TrialChannel* found = find(trial_id, secret);
    if (found == nullptr) return 404;
    TrialChannel& trial = *found;
    if (all_closed_ || trial.closed) return 410;
    if (trial.requested && !trial.sent) {
      trial.sent = true;
      body = encode_parameter_command(trial.record);
      ChannelEvent e;
      e.kind = ChannelEvent::Kind::kParameterSent;
      e.trial_id = trial_id;
      push(std::move(e));
      return 200;
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // One last look: the state may have changed right at the deadline.
      found = find(trial_id, secret);
      if (found == nullptr) return 404;
      if (all_closed_ || found->closed) return 410;
      if (!(found->requested && !found->sent)) return 408;
    }
  }
}

}  // namespace nnilib
