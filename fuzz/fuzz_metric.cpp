// fuzz_metric: NNI's wire format (nnilib/protocol.h), the manager side first. Each
// line of the input is a metric as a trial sends it: the `metric` string of a v3
// command (MetricChecker::accept) and the text of a legacy frame (accept_text), both
// checked per trial (ids, sequences, one FINAL). The whole input is also tried as a
// v3 command body (parsed as fmnist-nas's channel server does: depth check, then
// JSON), a parameter record, a parameter command, a bare metric and a trial's result.
// Documented failures: ProtocolError/ChannelError, and for check_result()
// DivergedError or std::invalid_argument. Anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/trial/protocol.h"

namespace {

constexpr const char* kTrialJobId = "S1i7C";

// The received metric as the manager would store it; encoding it again must validate.
void re_encode(const nnilib::Metric& metric) {
  const std::string text = nnilib::encode_metric(metric);
  (void)nnilib::encode_metric_command(text);
  (void)nnilib::validate_metric_text(text, metric.trial_job_id);
}

void each_line(std::string_view text) {
  nnilib::MetricChecker v3(kTrialJobId, 0);
  nnilib::MetricChecker legacy(kTrialJobId, 0);
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    // A v3 command's `metric` string went through the JSON parser: valid UTF-8.
    if (nnilib::invalid_utf8_at(line) == std::string_view::npos) {
      try {
        re_encode(v3.accept(nlohmann::json(std::string(line))));
      } catch (const nnilib::ProtocolError&) {
      }
    }
    // A legacy frame is raw bytes from the trial.
    try {
      re_encode(legacy.accept_text(line));
    } catch (const nnilib::ProtocolError&) {
    }
    (void)v3.final_received();
    (void)legacy.periodical_count();
  }
}

void whole(std::string_view text) {
  try {
    const nnilib::ParameterRecord record = nnilib::parse_parameter_record(text, "fuzz record");
    (void)nnilib::dump_python_style(record.parameters);
    (void)nnilib::parse_parameter_command(nnilib::encode_parameter_command(record), "re-encoded");
  } catch (const nnilib::ChannelError&) {
  }
  try {
    (void)nnilib::parse_parameter_command(text, "fuzz command");
  } catch (const nnilib::ChannelError&) {
  }
  try {
    re_encode(nnilib::validate_metric_text(text, kTrialJobId));
  } catch (const nnilib::ProtocolError&) {
  }

  // A v3 command body: the channel server refuses deep text, then parses it.
  if (!nnilib::json_depth_problem(text).empty()) return;
  const nlohmann::json body = nlohmann::json::parse(text, nullptr, false);
  if (body.is_discarded()) return;
  nnilib::MetricChecker checker(kTrialJobId, 0);
  try {
    const auto metric = body.find("metric");
    re_encode(checker.accept(body.is_object() && metric != body.end() ? *metric : body));
  } catch (const nnilib::ProtocolError&) {
  }
  try {
    (void)nnilib::validate_metric(body, kTrialJobId);
  } catch (const nnilib::ProtocolError&) {
  }
  // A trial's own result, e.g. 0.9 or {"default": 0.9, "val_loss": 0.3}.
  try {
    nnilib::check_result(body);
    (void)nnilib::dump_python_style(body);
  } catch (const nnilib::DivergedError&) {
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  each_line(text);
  whole(text);
  return 0;
}
