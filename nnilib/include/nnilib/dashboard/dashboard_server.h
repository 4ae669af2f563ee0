// The dashboard's web server (docs/dashboard.md): the pages and Chart.js from the
// binary, the dashboard's JSON API over one or more experiment directories, NNI's
// REST API for the first of them, and, on a `fmnist-nas run`, control requests that
// it writes into the experiment's database for the runner to apply. Serves from its
// own threads until destroyed. Free of LibTorch.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace nnilib {

/// A running dashboard server.
class DashboardServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";  ///< the address to bind
    int port = 8080;                 ///< 0: any free port
    /// When `port` is taken, try the next ones up to port + 19 (the default port).
    bool try_next_ports = false;
    /// Take control requests (cancel, stop, limits) for running experiments, each
    /// carrying the server's control key (128 random bits, in url()); off: read-only
    /// (403), the server never writes a database.
    bool control = false;
    /// NNI's web UI build (its `static` folder) to serve at "/"; the dashboard then
    /// moves to /dashboard/. Empty: the dashboard is at "/".
    std::string nni_webui;
  };

  /// Checks every directory (UsageError naming a bad one, or two of the same id),
  /// binds and starts serving. Throws SystemError naming the address when it cannot
  /// bind ("127.0.0.1:8080 is taken; choose another --port").
  DashboardServer(std::vector<std::string> experiment_dirs, Options options);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  int port() const;
  /// The dashboard's address, e.g. "http://127.0.0.1:8080/", with "?control=<key>"
  /// when it takes control requests: whoever opens that address may control.
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nnilib
