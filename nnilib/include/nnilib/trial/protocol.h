// NNI's trial wire format (NNI 3.0, see docs "How an NNI trial talks to NNI"): the
// parameter record, the doubly encoded metric and the commands of the v3 channel.
// Used by both sides: trials encode metrics and parse records; a manager (the test
// stand-in, the embedded experiment runner) encodes records and validates metrics
// exactly as NNI's manager and tuner would.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"
#include "nnilib/common/trial_budget.h"  // NNI's TRIAL_BUDGET, a parameter on the wire

namespace nnilib {

/// One parameter record as NNI sends it (the `parameter` string of the v3 command,
/// or the content of parameter.cfg).
struct ParameterRecord {
  /// Integer, or a string for Hyperband ("2_0_7"); echoed back verbatim in metrics.
  nlohmann::json parameter_id;
  /// "algorithm", "customized", "resumed", ... (empty when the record had none).
  std::string parameter_source;
  /// What the tuner sampled: an object; nested choices carry "_name"; Hyperband and
  /// BOHB add TRIAL_BUDGET.
  nlohmann::json parameters = nlohmann::json::object();
  int parameter_index = 0;
};

/// The two kinds of result a trial reports.
enum class MetricType { kPeriodical, kFinal };

/// "PERIODICAL" or "FINAL", as on the wire.
const char* to_string(MetricType type);

/// One decoded metric: the object inside the `metric` string.
struct Metric {
  nlohmann::json parameter_id;
  std::string trial_job_id;
  MetricType type = MetricType::kPeriodical;
  /// PERIODICAL: 0, 1, 2, ... per report; FINAL: 0.
  int sequence = 0;
  /// The decoded result: a finite number, or an object with a finite numeric "default".
  nlohmann::json value;
};

/// What was wrong with a received metric. The comment says what a real NNI 3.0 does.
enum class MetricFault {
  kNotAString,           ///< `metric` is not a JSON string (experiment ERROR)
  kNotJson,              ///< the metric string is not JSON (experiment ERROR)
  kNotAnObject,          ///< the metric is JSON but not an object
  kMissingKey,           ///< one of the five keys is missing
  kExtraKey,             ///< a key other than the five
  kWrongTrialJobId,      ///< trial_job_id is not the trial's own (experiment ERROR)
  kBadParameterId,       ///< parameter_id is neither an integer nor a string
  kParameterIdMismatch,  ///< parameter_id differs (value or JSON type) from the one sent
  kBadType,              ///< type is not exactly PERIODICAL or FINAL (e.g. "final": tuner dies)
  kBadSequence,          ///< sequence not an integer, FINAL not 0, PERIODICAL out of order
  kValueNotAString,      ///< value is not a JSON string (a bare number: tuner dies)
  kValueNotJson,         ///< the value string is not JSON
  kValueNotNumeric,      ///< value neither a number nor an object (tuner dies)
  kNoNumericDefault,     ///< object value without a numeric "default" (tuner dies)
  kNotFinite,            ///< NaN or infinity
  kDuplicateFinal,       ///< a second FINAL from one trial (tuner dies)
};

/// A metric (or command) that a real NNI would choke on. what() names the field.
class ProtocolError : public ChannelError {
 public:
  ProtocolError(MetricFault fault, const std::string& message)
      : ChannelError(message), fault_(fault) {}
  MetricFault fault() const noexcept { return fault_; }

 private:
  MetricFault fault_;
};

// ---------------------------------------------------------------------------
// Trial side

/// Checks a result a trial wants to report: a finite number, or an object with a
/// finite numeric "default" whose other values are finite numbers too.
/// Throws DivergedError (NaN/inf, naming the key) or std::invalid_argument (shape).
void check_result(const nlohmann::json& result);

/// Encodes `metric` as NNI's Python SDK does: the metric JSON text with the keys in
/// NNI's order and `value` itself a JSON string, e.g.
/// {"parameter_id": 0, "trial_job_id": "S1i7C", "type": "FINAL", "sequence": 0, "value": "0.489"}
std::string encode_metric(const Metric& metric);

/// The v3 command {"type": "metric", "metric": "<metric JSON>"}.
std::string encode_metric_command(const std::string& metric_json);

/// The v3 command {"type": "request_parameter"}.
std::string encode_request_parameter_command();

/// Parses a parameter record (the `parameter` string, or parameter.cfg). `source`
/// names where it came from (URL, file) for the error message.
/// Throws ChannelError: not JSON, not an object, missing or ill-typed parameter_id,
/// `parameters` not an object, ill-typed parameter_source / parameter_index.
ParameterRecord parse_parameter_record(std::string_view text, const std::string& source);

/// Parses the body of a v3 GET answer, {"type": "parameter", "parameter": "<record>"},
/// and the record inside. Throws ChannelError naming `source` and what was wrong.
ParameterRecord parse_parameter_command(std::string_view body, const std::string& source);

/// Python-style JSON text (separators ", " and ": ", ASCII only), as NNI's
/// json_tricks writes it.
std::string dump_python_style(const nlohmann::json& value);

// ---------------------------------------------------------------------------
// Manager side

/// Encodes a record as NNI does (the `parameter` string / parameter.cfg content).
std::string encode_parameter_record(const ParameterRecord& record);

/// The v3 GET answer {"type": "parameter", "parameter": "<record JSON string>"}.
std::string encode_parameter_command(const ParameterRecord& record);

/// Validates one received metric exactly as NNI's manager and tuner would: `metric`
/// is the `metric` field of a v3 command (must be a JSON string). Stateless checks
/// only (see MetricChecker for the per-trial ones). Throws ProtocolError.
Metric validate_metric(const nlohmann::json& metric, std::string_view trial_job_id);

/// Same, for the metric JSON text itself (a legacy file frame without its "\n",
/// the inside of a NNISDK_MEb'...' line).
Metric validate_metric_text(std::string_view metric_json, std::string_view trial_job_id);

/// The per-trial checks on top of validate_metric: parameter_id equal (value and
/// JSON type) to the one sent, PERIODICAL sequences 0, 1, 2, ..., one FINAL only.
class MetricChecker {
 public:
  MetricChecker(std::string trial_job_id, nlohmann::json parameter_id);

  /// Validates the `metric` field of a v3 command; returns it decoded or throws ProtocolError.
  Metric accept(const nlohmann::json& metric);
  /// Validates metric JSON text (legacy channels).
  Metric accept_text(std::string_view metric_json);

  bool final_received() const { return final_received_; }
  int periodical_count() const { return periodical_count_; }

 private:
  Metric check_sequence(Metric metric);

  std::string trial_job_id_;
  nlohmann::json parameter_id_;
  bool final_received_ = false;
  int periodical_count_ = 0;
};

/// True when two parameter ids are the same value with the same JSON type
/// (integer 3 and string "3" differ).
bool same_parameter_id(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace nnilib
