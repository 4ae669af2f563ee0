#include "nnilib/dashboard/html_report.h"

#include <cctype>
#include <string>
#include <vector>

#include "dashboard/assets.h"
#include "dashboard/experiment_view.h"
#include "nnilib/common/error.h"

namespace nnilib {
namespace {

using nlohmann::json;

// Text inlined in <script> or <style>: only "</script" or "</style" (any case) would end
// the element early; "<\/" means the same inside a JavaScript string or regex and a CSS
// string. Chart.js and the dashboard's own files have none today.
std::string inline_safe(std::string text) {
  for (std::size_t at = 0; (at = text.find("</", at)) != std::string::npos; at += 2) {
    std::string next = text.substr(at + 2, 6);
    for (char& c : next) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (next.rfind("script", 0) == 0 || next.rfind("style", 0) == 0) text.replace(at, 2, "<\\/");
  }
  return text;
}

// Replaces the line of index.html that is exactly `marker` by `replacement`.
void replace_marker(std::string& page, const std::string& marker, const std::string& replacement) {
  const auto at = page.find(marker);
  if (at == std::string::npos)
    throw SystemError("the dashboard's index.html has no " + marker + " line (a broken build)");
  page.replace(at, marker.size(), replacement);
}

}  // namespace

std::string dashboard_report_html(const std::vector<std::string>& experiment_dirs) {
  json experiments = json::array();
  json snapshots = json::object();
  json trials = json::object();
  for (const std::string& dir : experiment_dirs) {
    const json entry = experiment_list_entry(dir);  // UsageError for a bad directory
    const std::string id = entry["id"];
    experiments.push_back(entry);
    snapshots[id] = experiment_snapshot(dir, false);
    trials[id] = trial_details(dir, 2048);
  }
  const json report = {{"experiments", {{"read_only", true}, {"experiments", experiments}}},
                       {"snapshots", snapshots},
                       {"trials", trials}};
  // Inside a <script>: no "</" (a string could close the element) and no "<!--".
  std::string data = report.dump(-1, ' ', false, json::error_handler_t::replace);
  for (std::size_t at = 0; (at = data.find('<', at)) != std::string::npos; at += 6)
    data.replace(at, 1, "\\u003c");

  std::string page(dashboard_asset("index.html"));
  replace_marker(page, R"(<link rel="stylesheet" href="static/app.css">)",
                 "<style>\n" + inline_safe(std::string(dashboard_asset("app.css"))) + "\n</style>");
  replace_marker(page, R"(<script src="static/chart.js"></script>)",
                 "<script>window.NNILIB_REPORT = " + data + ";</script>\n<script>\n" +
                     inline_safe(std::string(dashboard_asset("chart.js"))) + "\n</script>");
  replace_marker(
      page, R"(<script src="static/app.js"></script>)",
      "<script>\n" + inline_safe(std::string(dashboard_asset("app.js"))) + "\n</script>");
  return page;
}

}  // namespace nnilib
