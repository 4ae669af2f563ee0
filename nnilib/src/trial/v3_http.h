// NNI 3.x trial command channel: PUT commands and GET long poll on one URL.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "nnilib/trial/channel.h"

namespace httplib {
class Client;
class Result;
}  // namespace httplib

namespace nnilib {

/// The parts of an http:// URL.
struct HttpUrl {
  std::string host;
  int port = 80;
  std::string path;  ///< starts with "/"
};

/// Splits "http://host[:port][/path]"; throws ChannelError naming `url` when malformed.
HttpUrl parse_http_url(const std::string& url);

/// The v3 channel: PUT {"type": "request_parameter"}, GET (200 command, 408 ask again,
/// 410 closed), PUT {"type": "metric", ...}; all with Content-Type: application/json.
/// Network failures are retried with exponential backoff (ChannelOptions); a PUT that
/// may have reached NNI (no answer) is not repeated, so a FINAL is never duplicated.
/// Each request as a whole, not only each read, ends within its time limit (a manager
/// that sends its answer a byte a second is cut off) and at once when cancelled.
class V3HttpChannel : public Channel {
 public:
  V3HttpChannel(std::string url, ChannelOptions options);
  ~V3HttpChannel() override;

  ParameterRecord receive_parameter() override;
  void send_metric(const Metric& metric, const std::string& metric_json) override;

 private:
  void put(const std::string& body, const char* what);
  // One request; its answer body goes to `answer`, at most kMaxAnswerBytes of it
  // (answer_too_large_ then says it was cut off).
  httplib::Result send(const char* method, const std::string& body, std::string& answer);
  static std::string too_large();
  static constexpr std::size_t kMaxAnswerBytes = std::size_t{16} << 20;
  // How a request ended, when not with an answer.
  enum class Cut { kNone, kDeadline, kCancelled };
  // Runs `request` on client_, stopping it from a watchdog thread at `limit` or when
  // options_.cancelled turns true; `cut` says which.
  template <class Request>
  auto bounded(std::chrono::milliseconds limit, Cut& cut, Request request);

  std::string url_;
  HttpUrl parts_;
  ChannelOptions options_;
  std::unique_ptr<httplib::Client> client_;
  bool answer_too_large_ = false;
};

}  // namespace nnilib
