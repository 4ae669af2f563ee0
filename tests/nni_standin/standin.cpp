#include "nni_standin/standin.h"

#include <sstream>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

namespace nnilib::standin {

using nlohmann::json;
using clock = std::chrono::steady_clock;

ParameterRecord StandinOptions::default_record() {
  ParameterRecord r;
  r.parameter_id = 0;
  r.parameter_source = "algorithm";
  r.parameters = json{{"x", 0.489}, {"lr", 0.001}};
  r.parameter_index = 0;
  return r;
}

NniStandin::NniStandin(StandinOptions options)
    : options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()),
      checker_(options_.trial_id, options_.record.parameter_id) {
  const std::string route = "/env/" + options_.env_name + "/" + options_.trial_id;
  server_->Put(R"(/.*)", [this, route](const httplib::Request& req, httplib::Response& res) {
    const std::string content_type = req.get_header_value("Content-Type");
    if (req.path != route) {
      res.status = 404;
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back({"PUT", req.path, content_type, req.body, 404, false, closed_});
      violation("PUT to unknown channel " + req.path + " (expected " + route + ")");
      changed_.notify_all();
      return;
    }
    handle_put(req.path, content_type, req.body);
    res.status = 200;  // always, with an empty body, even to a bad command
  });
  server_->Get(R"(/.*)", [this, route](const httplib::Request& req, httplib::Response& res) {
    if (req.path != route) {
      res.status = 404;
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back({"GET", req.path, "", "", 404, false, closed_});
      violation("GET of unknown channel " + req.path + " (expected " + route + ")");
      changed_.notify_all();
      return;
    }
    std::string body;
    res.status = handle_get(body);
    if (res.status == 200) res.set_content(body, "application/json");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("stand-in: cannot bind 127.0.0.1");
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the server runs: wait for it (bounded).
  const auto give_up = clock::now() + std::chrono::seconds(5);
  while (!server_->is_running() && clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_->is_running()) {
    server_->stop();
    listener_.detach();
    throw std::runtime_error("stand-in: server on 127.0.0.1 did not start");
  }
}

NniStandin::~NniStandin() {
  shutdown();
  if (listener_.joinable()) listener_.join();
}

std::string NniStandin::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/env/" + options_.env_name + "/" +
         options_.trial_id;
}

void NniStandin::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  changed_.notify_all();
}

void NniStandin::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    closed_ = true;
    changed_.notify_all();
  }
  server_->stop();
}

void NniStandin::violation(const std::string& line) { violations_.push_back(line); }

void NniStandin::handle_put(const std::string& path, const std::string& content_type,
                            const std::string& body) {
  std::unique_lock<std::mutex> lock(mutex_);
  ReceivedRequest rec{"PUT", path, content_type, body, 200, false, closed_};
  // NNI (express.json) only reads bodies declared as JSON: others are silently dropped.
  if (content_type.rfind("application/json", 0) != 0) {
    rec.dropped = true;
    requests_.push_back(rec);
    changed_.notify_all();
    return;
  }
  requests_.push_back(rec);
  json command = json::parse(body, nullptr, false);
  if (command.is_discarded() || !command.is_object()) {
    violation("PUT body is not a JSON object: " + body.substr(0, 100));
  } else if (!command.contains("type") || !command["type"].is_string()) {
    violation("PUT command without a string \"type\": " + body.substr(0, 100));
  } else if (command["type"] == "request_parameter") {
    if (command.size() != 1) violation("request_parameter command with extra keys: " + body);
    ++parameter_requests_;
    if (parameter_requests_ > 1) {
      violation("request_parameter sent " + std::to_string(parameter_requests_) +
                " times (NNI expects one per trial)");
    } else {
      parameter_ready_at_ = clock::now() + options_.parameter_delay;
    }
  } else if (command["type"] == "metric") {
    if (!command.contains("metric")) {
      violation("metric command without \"metric\": " + body.substr(0, 100));
    } else {
      if (command.size() != 2) violation("metric command with extra keys: " + body.substr(0, 100));
      on_metric(command["metric"]);
    }
  } else {
    violation("unknown command type " + command["type"].dump());
  }
  changed_.notify_all();
  const bool stop_now =
      options_.shutdown_after_metrics >= 0 && metric_commands_ >= options_.shutdown_after_metrics;
  if (stop_now && !stopped_) {
    stopped_ = true;
    closed_ = true;
    changed_.notify_all();
    lock.unlock();
    server_->stop();  // this PUT is still answered; later connections are refused
  }
}

void NniStandin::on_metric(const json& metric_field) {
  ++metric_commands_;
  raw_metrics_.push_back(metric_field);
  if (parameters_sent_ == 0) violation("metric received before the parameter was sent");
  try {
    metrics_.push_back(checker_.accept(metric_field));
  } catch (const ProtocolError& e) {
    faults_.push_back(e.fault());
    violation(e.what());
  }
  if (options_.close_after_metrics >= 0 && metric_commands_ >= options_.close_after_metrics) {
    closed_ = true;
  }
}

int NniStandin::handle_get(std::string& body) {
  std::unique_lock<std::mutex> lock(mutex_);
  const std::size_t index = requests_.size();
  requests_.push_back({"GET", "", "", "", 0, false, closed_});
  const auto deadline = clock::now() + options_.poll_timeout;
  int status = 408;
  for (;;) {
    if (closed_) {
      status = 410;
      break;
    }
    const auto now = clock::now();
    if (parameter_ready_at_ && parameters_sent_ == 0 && now >= *parameter_ready_at_) {
      body = options_.raw_parameter_command ? *options_.raw_parameter_command
                                            : encode_parameter_command(options_.record);
      ++parameters_sent_;
      status = 200;
      break;
    }
    if (now >= deadline) break;
    auto wake = deadline;
    if (parameter_ready_at_ && parameters_sent_ == 0) wake = std::min(wake, *parameter_ready_at_);
    changed_.wait_until(lock, wake);
  }
  requests_[index].path = "/env/" + options_.env_name + "/" + options_.trial_id;
  requests_[index].status = status;
  requests_[index].body = body;
  changed_.notify_all();
  return status;
}

std::vector<ReceivedRequest> NniStandin::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

std::vector<Metric> NniStandin::metrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return metrics_;
}

std::vector<Metric> NniStandin::periodical_metrics() const {
  std::vector<Metric> out;
  for (auto& m : metrics()) {
    if (m.type == MetricType::kPeriodical) out.push_back(m);
  }
  return out;
}

std::optional<Metric> NniStandin::final_metric() const {
  for (auto& m : metrics()) {
    if (m.type == MetricType::kFinal) return m;
  }
  return std::nullopt;
}

std::vector<json> NniStandin::raw_metrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return raw_metrics_;
}

std::vector<std::string> NniStandin::violations() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return violations_;
}

std::vector<MetricFault> NniStandin::metric_faults() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return faults_;
}

int NniStandin::parameter_requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return parameter_requests_;
}

int NniStandin::parameters_sent() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return parameters_sent_;
}

int NniStandin::dropped_puts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int n = 0;
  for (auto& r : requests_) n += r.dropped ? 1 : 0;
  return n;
}

int NniStandin::gets_answered(int status) const {
  std::lock_guard<std::mutex> lock(mutex_);
  int n = 0;
  for (auto& r : requests_) n += (r.method == "GET" && r.status == status) ? 1 : 0;
  return n;
}

bool NniStandin::wait_for_metrics(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return raw_metrics_.size() >= count; });
}

bool NniStandin::wait_for_parameter_sent(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return parameters_sent_ > 0; });
}

std::string NniStandin::summary() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  out << "stand-in "
      << "http://127.0.0.1:" << port_ << ": " << requests_.size() << " request(s), "
      << parameter_requests_ << " parameter request(s), " << parameters_sent_
      << " parameter(s) sent, " << metrics_.size() << " valid metric(s)\n";
  for (auto& r : requests_) {
    out << "  " << r.method << " " << r.path << " -> " << r.status
        << (r.dropped ? " (dropped: Content-Type \"" + r.content_type + "\")" : "")
        << (r.after_close ? " (after close)" : "") << " " << r.body.substr(0, 200) << "\n";
  }
  for (auto& v : violations_) out << "  VIOLATION: " << v << "\n";
  return out.str();
}

AbsentManager::AbsentManager(std::string trial_id) : trial_id_(std::move(trial_id)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("stand-in: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd_);
    throw std::runtime_error("stand-in: cannot bind an ephemeral port on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);  // bound, never listen()ed: connections are refused
}

AbsentManager::~AbsentManager() { ::close(fd_); }

std::string AbsentManager::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/env/local-env/" + trial_id_;
}

}  // namespace nnilib::standin
