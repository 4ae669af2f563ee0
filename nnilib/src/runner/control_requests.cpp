#include "runner/control_requests.h"

#include "nnilib/common/error.h"
#include "nnilib/common/json_text.h"

namespace nnilib {
namespace {

std::string apply(const ControlRecord& c, ControlTarget& target) {
  if (c.action == "cancel") return target.cancel_trial(c.target);
  if (c.action == "stop") return target.stop_experiment();
  if (c.action == "limits") return target.change_limits(ExperimentLimits::parse(c.value));
  return "refused: unknown action " + json_quote(c.action);
}

}  // namespace

ControlRequests::ControlRequests(std::chrono::milliseconds period) : period_(period) {}

std::vector<std::string> ControlRequests::poll(ExperimentStore& store, ControlTarget& target) {
  const auto now = std::chrono::steady_clock::now();
  if (last_ != std::chrono::steady_clock::time_point{} && now - last_ < period_) return {};
  last_ = now;
  std::vector<std::string> results;
  for (const ControlRecord& c : store.pending_controls()) {
    std::string result;
    try {
      result = apply(c, target);
    } catch (const Error& e) {
      result = std::string("refused: ") + e.what();
    }
    store.control_handled(c.id, unix_now(), result);
    results.push_back(result);
  }
  return results;
}

}  // namespace nnilib
