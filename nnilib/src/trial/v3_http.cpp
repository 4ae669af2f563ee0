#include "trial/v3_http.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "trial/io_util.h"

namespace nnilib {
namespace {

using clock = std::chrono::steady_clock;

std::string describe(httplib::Error error, std::chrono::milliseconds timeout) {
  const std::string ms = std::to_string(timeout.count()) + " ms";
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect (refused or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out after " + ms;
    case httplib::Error::Read:
      return "no answer within " + ms + " (read failed)";
    case httplib::Error::Write:
      return "sending the request failed";
    default:
      return "request failed (" + httplib::to_string(error) + ")";
  }
}

// Whether `error` proves that NNI did not receive the request.
bool not_delivered(httplib::Error error) {
  return error == httplib::Error::Connection || error == httplib::Error::ConnectionTimeout ||
         error == httplib::Error::Write;
}

std::string body_excerpt(const std::string& body) {
  if (body.empty()) return "";
  return ": " + body.substr(0, 80) + (body.size() > 80 ? "..." : "");
}

}  // namespace

HttpUrl parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw ChannelError("NNI channel URL " + url + " is not http://");
  std::string rest = url.substr(scheme.size());
  HttpUrl out;
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string port;
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) throw ChannelError("NNI channel URL " + url + ": bad host");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw ChannelError("NNI channel URL " + url + ": bad host");
      port = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) throw ChannelError("NNI channel URL " + url + " has no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) == 0 || std::stoi(port) > 65535) {
      throw ChannelError("NNI channel URL " + url + ": bad port \"" + port + "\"");
    }
    out.port = std::stoi(port);
  }
  return out;
}

V3HttpChannel::V3HttpChannel(std::string url, ChannelOptions options)
    : url_(std::move(url)), parts_(parse_http_url(url_)), options_(std::move(options)) {
  client_ = std::make_unique<httplib::Client>(parts_.host, parts_.port);
  client_->set_keep_alive(false);
  client_->set_connection_timeout(options_.request_timeout);
  client_->set_write_timeout(options_.request_timeout);
  client_->set_read_timeout(options_.request_timeout);
}

V3HttpChannel::~V3HttpChannel() = default;

httplib::Result V3HttpChannel::send(const char* method, const std::string& body,
                                    std::string& answer) {
  httplib::Request req;
  req.method = method;
  req.path = parts_.path;
  if (std::string(method) == "PUT") {
    req.body = body;
    req.set_header("Content-Type", "application/json");
  }
  answer.clear();
  answer_too_large_ = false;
  // The answer is kept up to kMaxAnswerBytes: a manager cannot make the trial hold more.
  req.content_receiver = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    if (answer.size() + size > kMaxAnswerBytes) {
      answer_too_large_ = true;
      return false;
    }
    answer.append(data, size);
    return true;
  };
  return client_->send(req);
}

std::string V3HttpChannel::too_large() {
  return "the answer is larger than " + std::to_string(kMaxAnswerBytes >> 20) +
         " MiB (a parameter record is a few KB); not read further";
}

template <class Request>
auto V3HttpChannel::bounded(std::chrono::milliseconds limit, Cut& cut, Request request) {
  cut = Cut::kNone;
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  std::thread watchdog([&] {
    const auto deadline = clock::now() + limit;
    std::unique_lock<std::mutex> lock(mutex);
    while (!done) {
      // Wakes every 50 ms to look at the cancel flag (a signal handler sets it).
      finished.wait_until(lock, std::min(deadline, clock::now() + std::chrono::milliseconds(50)));
      if (done) break;
      if (cut == Cut::kNone && is_cancelled(options_.cancelled)) cut = Cut::kCancelled;
      if (cut == Cut::kNone && clock::now() >= deadline) cut = Cut::kDeadline;
      // Repeated until the request returns: a stop() before the socket exists is lost.
      if (cut != Cut::kNone) client_->stop();
    }
  });
  auto result = request();
  {
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
  }
  finished.notify_all();
  watchdog.join();
  return result;
}

void V3HttpChannel::put(const std::string& body, const char* what) {
  auto backoff = options_.initial_backoff;
  std::string last;
  int attempts = 0;
  for (;;) {
    ++attempts;
    Cut cut = Cut::kNone;
    std::string answer;
    httplib::Result res =
        bounded(options_.request_timeout, cut, [&] { return send("PUT", body, answer); });
    if (answer_too_large_) throw ChannelError("NNI channel " + url_ + ": " + too_large());
    if (cut == Cut::kCancelled)
      throw Interrupted("interrupted during PUT " + std::string(what) + " to " + url_);
    bool retry = false;
    if (cut == Cut::kDeadline) {
      last = "no complete answer within " + std::to_string(options_.request_timeout.count()) +
             " ms; the request may have reached NNI, so it is not repeated";
    } else if (res) {
      if (res->status == 200) return;
      last = "answered HTTP " + std::to_string(res->status) + body_excerpt(answer);
      retry = res->status >= 500;
    } else {
      last = describe(res.error(), options_.request_timeout);
      retry = not_delivered(res.error());
      if (!retry) last += "; the request may have reached NNI, so it is not repeated";
    }
    if (!retry || attempts > options_.retries) break;
    if (!sleep_unless_cancelled(backoff, options_.cancelled)) {
      throw Interrupted("interrupted while retrying PUT " + std::string(what) + " to " + url_);
    }
    backoff *= 2;
  }
  throw ChannelError("NNI channel " + url_ + ": PUT " + what + " failed after " +
                     std::to_string(attempts) + " attempt(s): " + last);
}

ParameterRecord V3HttpChannel::receive_parameter() {
  put(encode_request_parameter_command(), "request_parameter");

  // A long poll answers after about 1 s; never time out before it can.
  const auto poll_limit = std::max(options_.request_timeout, std::chrono::milliseconds(1500));
  client_->set_read_timeout(poll_limit);
  const auto deadline = clock::now() + options_.parameter_wait;
  auto backoff = options_.initial_backoff;
  int failures = 0;
  std::string last;
  for (;;) {
    if (is_cancelled(options_.cancelled)) {
      throw Interrupted("interrupted while waiting for a parameter from " + url_);
    }
    if (clock::now() >= deadline) {
      throw ChannelError("NNI channel " + url_ + ": no parameter within " +
                         std::to_string(options_.parameter_wait.count()) + " ms");
    }
    const auto started = clock::now();
    Cut cut = Cut::kNone;
    std::string answer;
    httplib::Result res = bounded(poll_limit, cut, [&] { return send("GET", "", answer); });
    if (answer_too_large_) throw ChannelError("NNI channel " + url_ + ": " + too_large());
    if (cut == Cut::kCancelled)
      throw Interrupted("interrupted while waiting for a parameter from " + url_);
    bool retry = false;
    if (cut == Cut::kDeadline) {
      last = "no complete answer within " + std::to_string(poll_limit.count()) + " ms";
      retry = true;
    } else if (res) {
      switch (res->status) {
        case 200:
          client_->set_read_timeout(options_.request_timeout);
          return parse_parameter_command(answer, url_);
        case 408: {
          failures = 0;
          backoff = options_.initial_backoff;
          // NNI waits ~1 s before a 408; guard against a server that answers at once.
          const auto elapsed = clock::now() - started;
          if (elapsed < std::chrono::milliseconds(100)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100) - elapsed);
          }
          continue;
        }
        case 410:
          throw ChannelClosed("NNI channel " + url_ +
                              " closed (HTTP 410) before a parameter arrived: the experiment "
                              "is stopping");
        default:
          last = "answered HTTP " + std::to_string(res->status) + body_excerpt(answer);
          retry = res->status >= 500;
      }
    } else {
      last = describe(res.error(), options_.request_timeout);
      retry = true;
    }
    ++failures;
    if (!retry || failures > options_.retries) {
      throw ChannelError("NNI channel " + url_ + ": GET parameter failed after " +
                         std::to_string(failures) + " attempt(s): " + last);
    }
    if (!sleep_unless_cancelled(backoff, options_.cancelled)) {
      throw Interrupted("interrupted while retrying GET " + url_);
    }
    backoff *= 2;
  }
}

void V3HttpChannel::send_metric(const Metric& metric, const std::string& metric_json) {
  put(encode_metric_command(metric_json),
      metric.type == MetricType::kFinal ? "FINAL metric" : "PERIODICAL metric");
}

}  // namespace nnilib
