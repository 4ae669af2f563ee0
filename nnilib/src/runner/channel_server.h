// The manager side of NNI 3.x's v3 trial command channel, as the embedded runner
// serves it on 127.0.0.1: one URL per trial,
// http://127.0.0.1:<port>/env/local-env/<trial>/<secret>, where <secret> is 128 random
// bits known only to the runner and that trial (NNI's SDKs use the URL as given; NNI
// itself has no secret, so any local process could report for any trial). A request
// without the trial's secret is answered 404 and changes nothing. Bodies are limited
// to `max_body_bytes`, and a connection that stops sending is dropped after
// `read_timeout`. With NNI's semantics (docs "How an NNI trial talks to NNI"):
//   PUT  {"type": "request_parameter"} or {"type": "metric", "metric": "<metric JSON>"}
//        -> always 200 with an empty body; without Content-Type application/json the
//           body is ignored (as NNI's express.json does).
//   GET  long poll -> 200 {"type": "parameter", "parameter": "<record JSON>"} once the
//        trial asked for it; 408 after `poll_timeout` with nothing queued; 410 once the
//        trial's channel (or the whole server) is closed.
// Every metric is validated exactly as NNI's manager and tuner would (protocol.h,
// MetricChecker); a malformed one becomes a fault event for the runner to act on,
// where a real NNI would stall or go to ERROR. Free of LibTorch.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nnilib/trial/protocol.h"

namespace httplib {
class Server;
}

namespace nnilib {

/// Something a trial did on its channel, for the runner's loop.
struct ChannelEvent {
  enum class Kind {
    kParameterRequested,  ///< PUT request_parameter (the record is now queued for GET)
    kParameterSent,       ///< a GET was answered with the record
    kMetric,              ///< a valid metric (`metric`)
    kFault,               ///< a protocol violation that fails the trial (`message`)
    kWarning,             ///< something ignored, as NNI ignores it (`message`)
  };
  Kind kind = Kind::kMetric;
  std::string trial_id;
  Metric metric;        ///< kMetric
  std::string message;  ///< kFault, kWarning: one line
};

/// The v3 channel of every trial of one experiment. Thread-safe.
class ChannelServer {
 public:
  struct Options {
    std::string env_name = "local-env";            ///< the <env> of /env/<env>/<trial>
    std::chrono::milliseconds poll_timeout{1000};  ///< a GET with nothing queued: 408 after this
    int threads = 8;  ///< HTTP worker threads (>= 2 per running trial; 2 to 64)
    std::size_t max_body_bytes = 1 << 20;        ///< a larger request is refused (413) unread
    std::chrono::seconds read_timeout{1};        ///< silence within a request ends the connection
    std::size_t max_metrics_per_trial = 100000;  ///< more fails the trial
    std::size_t max_metric_bytes_per_trial = 64 << 20;  ///< more fails the trial
  };

  /// Binds an ephemeral port on 127.0.0.1 and starts serving. Throws SystemError
  /// when no port can be bound or the server does not start.
  explicit ChannelServer(Options options);
  ChannelServer() : ChannelServer(Options{}) {}
  ~ChannelServer();
  ChannelServer(const ChannelServer&) = delete;
  ChannelServer& operator=(const ChannelServer&) = delete;

  int port() const { return port_; }
  /// http://127.0.0.1:<port>/env/<env>/<trial_id>/<secret>: the trial's
  /// NNI_TRIAL_COMMAND_CHANNEL ("" for a trial that is not open).
  std::string url(const std::string& trial_id) const;

  /// Opens the channel of a trial: after its request_parameter, GET answers `record`.
  /// Re-adding a trial id (a re-run) starts it afresh, with a new secret.
  void add_trial(const std::string& trial_id, const ParameterRecord& record);
  /// Closes one trial's channel: GET answers 410; metrics are still received (NNI
  /// stores metrics a trial sends after SIGINT).
  void close_trial(const std::string& trial_id);
  /// Forgets a trial: its URL answers 404.
  void remove_trial(const std::string& trial_id);
  /// Closes every channel (the experiment is stopping).
  void close_all();

  /// The events since the last call, waiting up to `timeout` for the first one.
  std::vector<ChannelEvent> wait_events(std::chrono::milliseconds timeout);
  /// Ends the current (or next) wait_events() early, from any thread.
  void wake();

 private:
  struct TrialChannel {
    ParameterRecord record;
    MetricChecker checker;
    std::string secret;      // the last path segment of the trial's URL
    bool requested = false;  // a request_parameter arrived; GET answers the record
    bool sent = false;       // a GET was answered with it (again after each new request)
    bool closed = false;
    bool faulted = false;  // metrics after a fault are ignored
    std::size_t metric_count = 0;
    std::size_t metric_bytes = 0;
  };

  // The open trial a request path names with its secret, or nullptr (mutex_ held).
  TrialChannel* find(const std::string& trial_id, const std::string& secret);
  void handle_put(const std::string& trial_id, const std::string& secret,
                  const std::string& content_type, const std::string& body, int& status);
  int handle_get(const std::string& trial_id, const std::string& secret, std::string& body);
  void push(ChannelEvent event);  // mutex_ held
  void fault(const std::string& trial_id, TrialChannel& trial, const std::string& message);

  Options options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // new events, new parameters, closed channels
  std::map<std::string, TrialChannel> trials_;
  std::deque<ChannelEvent> events_;
  bool woken_ = false;  // wake() was called since the last wait_events()
  bool all_closed_ = false;
};

}  // namespace nnilib
