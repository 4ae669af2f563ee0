// A stand-in NNI manager for tests: the v3 trial command channel served on
// 127.0.0.1 exactly as NNI 3.0 does (docs: "How an NNI trial talks to NNI"),
// recording everything and checking every metric as NNI's manager and tuner would.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnilib/trial/protocol.h"

namespace httplib {
class Server;
}

namespace nnilib::standin {

/// How the stand-in behaves.
struct StandinOptions {
  std::string env_name = "local-env";  ///< the <env> of /env/<env>/<trial_id>
  std::string trial_id = "S1i7C";      ///< the one trial served
  /// The record sent after {"type": "request_parameter"}. Set record.parameter_id to
  /// an integer or a string ("2_0_7", as Hyperband does).
  ParameterRecord record = default_record();
  /// When set, sent verbatim as the body of the GET 200 instead of the encoded record
  /// (malformed records and commands).
  std::optional<std::string> raw_parameter_command;
  /// After this many metric PUTs the channel closes: GET answers 410 (PUTs still 200).
  int close_after_metrics = -1;
  /// After this many metric PUTs the server stops listening (connection refused).
  int shutdown_after_metrics = -1;
  /// A GET with nothing queued answers 408 after this long (NNI: about 1 s).
  std::chrono::milliseconds poll_timeout{1000};
  /// The parameter is queued this long after the request (0: at once).
  std::chrono::milliseconds parameter_delay{0};

  /// {"parameter_id": 0, "parameter_source": "algorithm", "parameters": {"x": 0.489,
  /// "lr": 0.001}, "parameter_index": 0}, as in the captured exchange.
  static ParameterRecord default_record();
};

/// One HTTP request as received, with the status answered.
struct ReceivedRequest {
  std::string method;  ///< "GET" or "PUT"
  std::string path;
  std::string content_type;  ///< Content-Type header ("" when absent)
  std::string body;
  int status = 0;            ///< what the stand-in answered
  bool dropped = false;      ///< PUT without Content-Type: application/json (ignored, as NNI does)
  bool after_close = false;  ///< received after the channel closed
};

/// The v3 channel of one trial, served on 127.0.0.1 at an ephemeral port. Every PUT
/// is answered 200 with an empty body; a PUT whose Content-Type is not
/// application/json is silently dropped; GET is a long poll (200 command, 408 after
/// poll_timeout, 410 once closed). Thread-safe. Stops in the destructor.
class NniStandin {
 public:
  explicit NniStandin(StandinOptions options = {});
  ~NniStandin();
  NniStandin(const NniStandin&) = delete;
  NniStandin& operator=(const NniStandin&) = delete;

  /// http://127.0.0.1:<port>/env/<env>/<trial_id>: the NNI_TRIAL_COMMAND_CHANNEL value.
  std::string url() const;
  int port() const { return port_; }
  const StandinOptions& options() const { return options_; }

  /// Closes the channel: pending and later GETs answer 410 (the experiment stops).
  void close();
  /// Stops listening: later requests get connection refused (NNI is gone).
  void shutdown();

  /// Every request received, in order.
  std::vector<ReceivedRequest> requests() const;
  /// Every metric that passed the checks, in order.
  std::vector<Metric> metrics() const;
  /// The accepted PERIODICAL metrics / the accepted FINAL one.
  std::vector<Metric> periodical_metrics() const;
  std::optional<Metric> final_metric() const;
  /// The raw `metric` fields of every metric command received (valid or not).
  std::vector<nlohmann::json> raw_metrics() const;
  /// Every protocol violation seen, one line each (empty when the trial behaved).
  std::vector<std::string> violations() const;
  /// The MetricFault of every metric rejected, in order.
  std::vector<MetricFault> metric_faults() const;
  int parameter_requests() const;  ///< {"type": "request_parameter"} PUTs accepted
  int parameters_sent() const;     ///< GETs answered 200
  int dropped_puts() const;        ///< PUTs ignored for their Content-Type
  int gets_answered(int status) const;

  /// Waits until `count` metric commands (valid or not) arrived; false on timeout.
  bool wait_for_metrics(std::size_t count, std::chrono::milliseconds timeout) const;
  /// Waits until the parameter was sent; false on timeout.
  bool wait_for_parameter_sent(std::chrono::milliseconds timeout) const;

  /// A multi-line account of everything received, for test failure messages.
  std::string summary() const;

 private:
  void handle_put(const std::string& path, const std::string& content_type,
                  const std::string& body);
  int handle_get(std::string& body);
  void on_metric(const nlohmann::json& metric_field);
  void violation(const std::string& line);

  StandinOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  MetricChecker checker_;
  bool closed_ = false;
  bool stopped_ = false;
  std::optional<std::chrono::steady_clock::time_point> parameter_ready_at_;
  int parameter_requests_ = 0;
  int parameters_sent_ = 0;
  int metric_commands_ = 0;
  std::vector<ReceivedRequest> requests_;
  std::vector<Metric> metrics_;
  std::vector<nlohmann::json> raw_metrics_;
  std::vector<std::string> violations_;
  std::vector<MetricFault> faults_;
};

/// An absent NNI manager: a port on 127.0.0.1 that is bound but never listens, so
/// connecting is refused, and no other process can take the port while this lives.
class AbsentManager {
 public:
  explicit AbsentManager(std::string trial_id = "S1i7C");
  ~AbsentManager();
  AbsentManager(const AbsentManager&) = delete;
  AbsentManager& operator=(const AbsentManager&) = delete;

  /// http://127.0.0.1:<port>/env/local-env/<trial_id>
  std::string url() const;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::string trial_id_;
};

}  // namespace nnilib::standin
