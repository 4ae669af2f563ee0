#include "nnilib/dashboard/dashboard_server.h"

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "dashboard/assets.h"
#include "dashboard/experiment_view.h"
#include "dashboard/nni_rest.h"
#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/common/json_text.h"
#include "nnilib/common/secret.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/runner.h"

namespace nnilib {
namespace {

namespace fs = std::filesystem;
using httplib::Request;
using httplib::Response;
using nlohmann::json;

constexpr const char* kJson = "application/json";
// The dashboard's own pages load only from this server; nothing may frame them.
constexpr const char* kPolicy =
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'";

template <class J>
std::string dump(const J& j) {
  return j.dump(-1, ' ', false, J::error_handler_t::replace);  // stdout tails may not be UTF-8
}

template <class J>
void send_json(Response& res, int status, const J& body) {
  res.status = status;
  res.set_content(dump(body), kJson);
}

void send_error(Response& res, int status, const std::string& message) {
  send_json(res, status, json{{"error", message}});
}

std::string content_type_of(const std::string& path) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".ttf", "font/ttf"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"}};
  const auto it = types.find(fs::path(path).extension().string());
  return it != types.end() ? it->second : "application/octet-stream";
}

// NNI answers an accepted update or kill with 200 and no body.
void accepted_as_nni(Response& res) {
  if (res.status != 202) return;
  res.status = 200;
  res.set_content("", "text/plain");
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]";
}

// Runs `f`, turning what it throws into an error answer.
template <class F>
void guarded(Response& res, F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    send_error(res, 404, e.what());  // the experiment directory went away
  } catch (const ParamError& e) {
    send_error(res, 400, e.what());
  } catch (const std::exception& e) {
    send_error(res, 500, e.what());
  }
}

// NNI's web UI (the directory `webui`): its files, and index.html for its client-side
// routes.
void add_webui_routes(httplib::Server& server, const std::string& webui) {
  const fs::path root = fs::weakly_canonical(webui);
  server.Get(R"(/(.*))", [root](const Request& req, Response& res) {
    guarded(res, [&] {
      std::string rel = req.matches[1];
      fs::path file = fs::weakly_canonical(root / rel);
      const std::string r = root.string(), f = file.string();
      const bool inside =
          f.size() > r.size() && f.compare(0, r.size(), r) == 0 && f[r.size()] == '/';
      if (rel.empty() || !inside || !fs::is_regular_file(file)) file = root / "index.html";
      auto content = read_small_file(file.string(), 64 << 20);
      if (!content)
        return send_error(res, 404, "no file " + json_quote(rel) + " in the NNI web UI");
      res.set_content(*content, content_type_of(file.string()).c_str());
    });
  });
}

// Refuses requests whose Host is not this server's loopback name (a web page reaching
// 127.0.0.1 through DNS rebinding) and cross-site control requests, for a server on
// `host`:`port`.
httplib::Server::HandlerResponse pre_route(const Request& req, Response& res,
                                           const std::string& host, int port) {
  if (is_loopback(host) && req.has_header("Host")) {
    const std::string asked = req.get_header_value("Host");
    const auto colon = asked.rfind(':');
    const bool no_port = colon == std::string::npos || asked.back() == ']';
    const std::string name = no_port ? asked : asked.substr(0, colon);
    const std::string asked_port = no_port ? "80" : asked.substr(colon + 1);
    if (!is_loopback(name) || asked_port != std::to_string(port)) {
      send_error(res, 403, "unexpected Host " + json_quote(asked) + " for a server on " + host);
      return httplib::Server::HandlerResponse::Handled;
    }
  }
  if (req.method != "GET" && req.method != "HEAD" && req.has_header("Origin")) {
    const std::string origin = req.get_header_value("Origin");
    if (origin != "http://" + req.get_header_value("Host")) {
      send_error(res, 403, "a control request from another origin (" + origin + ") is refused");
      return httplib::Server::HandlerResponse::Handled;
    }
  }
  res.set_header("X-Content-Type-Options", "nosniff");
  return httplib::Server::HandlerResponse::Unhandled;
}

}  // namespace

struct DashboardServer::Impl {
  struct Served {
    std::string id;
    std::string dir;
  };
  struct Cached {
    std::chrono::steady_clock::time_point at;
    std::string body;
  };

  Options options;
  std::vector<Served> experiments;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::string prefix;       // "" or "/dashboard"
  std::string control_key;  // with options.control: what a control request must carry

  std::mutex mutex;
  std::map<std::string, Cached> snapshots;  // id -> its snapshot, at most 1 s old

  const Served* find(const std::string& id) const {
    for (const Served& e : experiments)
      if (e.id == id) return &e;
    return nullptr;
  }

  // The dashboard's API and pages, under `prefix`.
  void dashboard_routes() {
    const std::string p = prefix;
    auto asset = [](const std::string& name, const std::string& type) {
      return [name, type](const Request&, Response& res) {
        const std::string_view content = dashboard_asset(name);
        res.set_header("Cache-Control", "no-cache");
        res.set_header("Content-Security-Policy", kPolicy);
        res.set_content(std::string(content), type.c_str());
      };
    };
    server.Get(p + "/", asset("index.html", "text/html; charset=utf-8"));
    if (!p.empty())
      server.Get(p, [p](const Request&, Response& res) { res.set_redirect(p + "/"); });
    server.Get(p + "/static/app.js", asset("app.js", "text/javascript; charset=utf-8"));
    server.Get(p + "/static/app.css", asset("app.css", "text/css; charset=utf-8"));
    server.Get(p + "/static/chart.js", asset("chart.js", "text/javascript; charset=utf-8"));

    server.Get(p + "/api/experiments", [this](const Request&, Response& res) {
      guarded(res, [&] {
        json list = json::array();
        for (const Served& e : experiments) list.push_back(experiment_list_entry(e.dir));
        send_json(res, 200, json{{"read_only", !options.control}, {"experiments", list}});
      });
    });
    server.Get(p + R"(/api/experiments/([^/]+))", [this](const Request& req, Response& res) {
      guarded(res, [&] {
        const Served* e = find(req.matches[1]);
        if (e == nullptr)
          return send_error(res, 404, "no experiment " + json_quote(req.matches[1]));
        res.status = 200;
        res.set_content(snapshot(*e), kJson);
      });
    });
    server.Get(p + R"(/api/experiments/([^/]+)/trials/([^/]+))", [this](const Request& req,
                                                                        Response& res) {
      guarded(res, [&] {
        const Served* e = find(req.matches[1]);
        if (e == nullptr)
          return send_error(res, 404, "no experiment " + json_quote(req.matches[1]));
        const auto detail = trial_detail(e->dir, req.matches[2]);
        if (!detail)
          return send_error(res, 404,
                            "experiment " + e->id + " has no trial " + json_quote(req.matches[2]));
        send_json(res, 200, *detail);
      });
    });

    server.Post(p + R"(/api/experiments/([^/]+)/trials/([^/]+)/cancel)", [this](const Request& req,
                                                                                Response& res) {
      ControlRecord c;
      c.action = "cancel";
      c.target = req.matches[2];
      control(req, req.get_header_value("Content-Type"), req.body, res, req.matches[1], c);
    });
    server.Post(p + R"(/api/experiments/([^/]+)/stop)", [this](const Request& req, Response& res) {
      ControlRecord c;
      c.action = "stop";
      control(req, req.get_header_value("Content-Type"), req.body, res, req.matches[1], c);
    });
    server.Post(
        p + R"(/api/experiments/([^/]+)/limits)", [this](const Request& req, Response& res) {
          ControlRecord c;
          c.action = "limits";
          control(req, req.get_header_value("Content-Type"), req.body, res, req.matches[1], c);
        });
  }

  std::string snapshot(const Served& e) {
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = snapshots.find(e.id);
      if (it != snapshots.end() && now - it->second.at < std::chrono::seconds(1))
        return it->second.body;
    }
    std::string body = dump(experiment_snapshot(e.dir, options.control));
    std::lock_guard<std::mutex> lock(mutex);
    snapshots[e.id] = {now, body};
    return body;
  }

  // A control request: checked here, written into the experiment's database, applied
  // by its runner (which is woken at once when it runs in this process).
  // `req` carries the control key (the X-Control-Key header or the `control` query
  // parameter); `content_type` and `request_body` the request itself.
  void control(const Request& req, const std::string& content_type, const std::string& request_body,
               Response& res, const std::string& id, ControlRecord c) {
    guarded(res, [&] {
      if (!options.control)
        return send_error(res, 403,
                          "read-only: this server shows experiments; control an experiment "
                          "from the dashboard of the fmnist-nas run that runs it");
      const std::string key = req.has_header("X-Control-Key")
                                  ? req.get_header_value("X-Control-Key")
                                  : req.get_param_value("control");
      if (!same_secret(key, control_key))
        return send_error(res, 403,
                          "control needs the key of the dashboard's address as fmnist-nas "
                          "printed it (.../?control=<key>)");
      if (content_type.rfind(kJson, 0) != 0)
        return send_error(res, 415, "a control request must be Content-Type: application/json");
      const Served* e = find(id);
      if (e == nullptr) return send_error(res, 404, "no experiment " + json_quote(id));
      const json body = request_body.empty() ? json::object() : parse_bounded_json(request_body);
      if (!body.is_object()) return send_error(res, 400, "the request body must be a JSON object");
      if (!experiment_running(e->dir))
        return send_error(res, 409, "experiment " + e->id + " is not running");
      ExperimentStore store = ExperimentStore::open(ExperimentPaths{e->dir}.database(), false);
      if (c.action == "cancel") {
        const auto t = store.trial(c.target);
        if (!t)
          return send_error(res, 404,
                            "experiment " + e->id + " has no trial " + json_quote(c.target));
        if (t->status != kRunning)
          return send_error(res, 409, "trial " + c.target + " is " + t->status + ", not running");
      } else if (c.action == "limits") {
        c.value = ExperimentLimits::parse(body).to_json();  // ParamError: 400
      }
      c.requested_at = unix_now();
      const std::int64_t request = store.request_control(c);
      wake_runner();
      {
        std::lock_guard<std::mutex> lock(mutex);
        snapshots.erase(e->id);
      }
      send_json(res, 202, json{{"request", request}});
    });
  }

  // NNI 3.0's REST API for the first experiment.
  void nni_routes() {
    const std::string base = "/api/v1/nni";
    auto view = [this] { return NniRestView(experiments.front().dir, !options.control); };
    // A GET answered with the JSON `f` returns, or as `f` set `res` (nullopt).
    using oj = nlohmann::ordered_json;
    using Handler = std::function<std::optional<oj>(const Request&, Response&)>;
    auto get = [this, &base](const std::string& path, Handler f) {
      server.Get(base + path, [this, f](const Request& req, Response& res) {
        guarded(res, [&] {
          if (auto body = f(req, res)) send_json(res, 200, *body);
        });
      });
    };
    get("/version", [](const Request&, Response& res) -> std::optional<oj> {
      res.set_content("3.0.0", "text/plain");  // the NNI version whose API this serves
      return std::nullopt;
    });
    get("/check-status", [view](const Request&, Response&) { return view().check_status(); });
    get("/experiment", [view](const Request&, Response&) { return view().experiment(); });
    get("/experiments-info",
        [this, view](const Request&, Response&) { return view().experiments_info(port); });
    get("/experiment-metadata",
        [this, view](const Request&, Response&) { return view().experiment_metadata(port); });
    get("/job-statistics", [view](const Request&, Response&) { return view().job_statistics(); });
    get("/trial-jobs", [view](const Request& req, Response&) {
      return view().trial_jobs(req.get_param_value("status"));
    });
    get(R"(/trial-jobs/([^/]+))", [view](const Request& req, Response& res) {
      const auto job = view().trial_job(req.matches[1]);
      if (!job) send_error(res, 404, "Trial job " + std::string(req.matches[1]) + " not found");
      return job;
    });
    get(R"(/metric-data/?)", [view](const Request& req, Response&) {
      return view().metric_data("", req.get_param_value("type"));
    });
    get(R"(/metric-data/([^/]+))", [view](const Request& req, Response&) {
      return view().metric_data(req.matches[1], req.get_param_value("type"));
    });
    get(R"(/metric-data-range/(-?\d{1,15})/(-?\d{1,15}))", [view](const Request& req, Response&) {
      return view().metric_data_range(std::stoll(req.matches[1]), std::stoll(req.matches[2]));
    });
    get(R"(/metric-data-latest/?)",
        [view](const Request&, Response&) { return view().metric_data_latest(); });
    get("/tensorboard-tasks", [](const Request&, Response&) { return oj::array(); });
    get(R"(/trial-file/([^/]+)/([^/]+))",
        [this](const Request& req, Response& res) -> std::optional<oj> {
          static const std::map<std::string, std::string> files = {{"trial.log", "trial.stdout"},
                                                                   {"stdout", "trial.stdout"},
                                                                   {"stderr", "trial.stderr"}};
          const auto file = files.find(req.matches[2]);
          const std::string dir =
              ExperimentPaths{experiments.front().dir}.trial_dir(req.matches[1]);
          if (file == files.end() || !fs::is_directory(dir)) {
            send_error(res, 404,
                       "no trial file " + json_quote(req.matches[2]) + " of trial " +
                           json_quote(req.matches[1]));
            return std::nullopt;
          }
          res.set_content(file_tail(dir + "/" + file->second, 1 << 20),
                          "text/plain; charset=utf-8");
          return std::nullopt;
        });
    // NNI's controls: kill a trial, stop, update the profile (maxTrialNumber etc.).
    server.Delete(base + R"(/trial-jobs/([^/]+))", [this](const Request& req, Response& res) {
      ControlRecord c;
      c.action = "cancel";
      c.target = req.matches[1];
      control(req, kJson, "", res, experiments.front().id, c);
      accepted_as_nni(res);
    });
    server.Put(base + "/experiment", [this](const Request& req, Response& res) {
      guarded(res, [&] {
        static const std::map<std::string, std::string> fields = {
            {"MAX_TRIAL_NUM", "maxTrialNumber"},
            {"MAX_EXEC_DURATION", "maxExperimentDuration"},
            {"TRIAL_CONCURRENCY", "trialConcurrency"}};
        const auto field = fields.find(req.get_param_value("update_type"));
        if (field == fields.end())
          return send_error(res, 400,
                            "update_type must be MAX_TRIAL_NUM, MAX_EXEC_DURATION or "
                            "TRIAL_CONCURRENCY");
        const json profile = parse_bounded_json(req.body);
        if (!profile.is_object() || !profile.contains("params") || !profile["params"].is_object() ||
            !profile["params"].contains(field->second))
          return send_error(res, 400,
                            "the body must be the experiment profile with params." + field->second);
        ControlRecord c;
        c.action = "limits";
        control(req, kJson, dump(json{{field->second, profile["params"][field->second]}}), res,
                experiments.front().id, c);
        accepted_as_nni(res);
      });
    });
  }
};

DashboardServer::DashboardServer(std::vector<std::string> experiment_dirs, Options options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = std::move(options);
  if (experiment_dirs.empty()) throw UsageError("no experiment directory to serve");
  std::set<std::string> ids;
  for (std::string dir : experiment_dirs) {
    dir = fs::absolute(dir).lexically_normal().string();
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    const std::string id = experiment_id_of(dir);  // UsageError for a bad directory
    if (!ids.insert(id).second)
      throw UsageError(dir + ": experiment " + id + " is already served (from another directory)");
    m.experiments.push_back({id, dir});
  }
  m.prefix = m.options.nni_webui.empty() ? "" : "/dashboard";
  if (m.options.control) m.control_key = random_secret("the dashboard's control key");
  if (!m.options.nni_webui.empty() &&
      !fs::is_regular_file(fs::path(m.options.nni_webui) / "index.html"))
    throw UsageError(m.options.nni_webui +
                     ": not NNI's web UI (no index.html; give the `static` folder of nni_node)");

  // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let this server share a
  // port another one listens on (each getting some of the connections) without an error.
  m.server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Browsers keep connections open; each holds a worker while it does.
  m.server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  m.server.set_keep_alive_timeout(2);
  m.server.set_read_timeout(5);
  m.server.set_write_timeout(10);
  m.server.set_payload_max_length(64 << 10);
  m.server.set_pre_routing_handler([&m](const Request& req, Response& res) {
    return pre_route(req, res, m.options.host, m.port);
  });
  m.server.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;  // a handler's own answer
    if (res.status == 404) return send_error(res, 404, "no such path " + json_quote(req.path));
    if (res.status == 413) return send_error(res, 413, "the request body is larger than 64 KiB");
    send_error(res, res.status, "request refused");
  });
  m.nni_routes();
  m.dashboard_routes();
  if (!m.options.nni_webui.empty()) add_webui_routes(m.server, m.options.nni_webui);

  const std::string& host = m.options.host;
  if (m.options.port == 0) {
    m.port = m.server.bind_to_any_port(host);
    if (m.port <= 0) throw SystemError("cannot bind a port on " + host);
  } else {
    const int last = m.options.try_next_ports ? m.options.port + 19 : m.options.port;
    for (int p = m.options.port; p <= last && m.port == 0; ++p)
      if (m.server.bind_to_port(host, p)) m.port = p;
    if (m.port == 0)
      throw SystemError(host + ":" + std::to_string(m.options.port) +
                        (last > m.options.port ? " to " + std::to_string(last) : std::string()) +
                        " taken or not bindable; choose another --port (0: any free one)");
  }
  m.thread = std::thread([&m] { m.server.listen_after_bind(); });
  // Until it listens: stop() before that would be lost and the destructor's join hang.
  for (int i = 0; i < 5000 && !m.server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

DashboardServer::~DashboardServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int DashboardServer::port() const { return impl_->port; }

std::string DashboardServer::url() const {
  const std::string& host = impl_->options.host;
  const std::string shown = host == "0.0.0.0" || host.empty() ? "127.0.0.1" : host;
  return "http://" + (shown.find(':') != std::string::npos ? "[" + shown + "]" : shown) + ":" +
         std::to_string(impl_->port) + impl_->prefix + "/" +
         (impl_->control_key.empty() ? "" : "?control=" + impl_->control_key);
}

}  // namespace nnilib
