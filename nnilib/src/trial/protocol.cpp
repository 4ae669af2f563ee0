#include "nnilib/trial/protocol.h"

#include "nnilib/common/json_limits.h"

#include <cmath>
#include <stdexcept>

namespace nnilib {
namespace {

using nlohmann::json;

const char* type_name(const json& j) { return j.type_name(); }

// JSON text of a string, ASCII only.
// Bytes that are not UTF-8 (a trial's text, an excerpt cut inside a character) print
// as U+FFFD instead of throwing.
std::string quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', true, json::error_handler_t::replace);
}

// A short excerpt of `text` for error messages.
std::string excerpt(std::string_view text) {
  constexpr std::size_t kMax = 60;
  std::string s(text.substr(0, kMax));
  if (text.size() > kMax) s += "...";
  return quote(s);
}

bool is_finite_number(const json& j) {
  return !j.is_number_float() || std::isfinite(j.get<double>());
}

constexpr const char* kOverflow = "holds a number beyond double range (infinite)";

// Parses JSON text; on failure returns a discarded value and sets `why`.
json parse_json(std::string_view text, std::string& why) {
  if (std::string deep = json_depth_problem(text); !deep.empty()) {
    why = std::move(deep);
    return json(json::value_t::discarded);
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    why = "not JSON (syntax error at byte " + std::to_string(e.byte) + ")";
  } catch (const json::out_of_range&) {
    why = kOverflow;
  }
  return json(json::value_t::discarded);
}

// True when JSON text that failed to parse holds a Python NaN/Infinity literal or a
// number that overflows a double.
bool mentions_non_finite(std::string_view text, const std::string& why) {
  return why == kOverflow || text.find("NaN") != std::string_view::npos ||
         text.find("Infinity") != std::string_view::npos;
}

// Finds a non-finite number anywhere in `j`; returns its path ("" = none).
bool find_non_finite(const json& j, const std::string& path, std::string& where) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) {
    where = path.empty() ? "value" : path;
    return true;
  }
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (find_non_finite(it.value(), path + "." + it.key(), where)) return true;
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (find_non_finite(j[i], path + "[" + std::to_string(i) + "]", where)) return true;
    }
  }
  return false;
}

[[noreturn]] void fail(MetricFault fault, const std::string& message) {
  throw ProtocolError(fault, "metric: " + message);
}

// Checks the decoded `value` of a metric as NNI's tuner does (extract_scalar_reward).
void check_metric_value(const json& value) {
  std::string where;
  if (find_non_finite(value, "value", where))
    fail(MetricFault::kNotFinite, where + " is NaN or infinite");
  if (value.is_number()) return;
  if (!value.is_object()) {
    fail(MetricFault::kValueNotNumeric, std::string("value is a JSON ") + type_name(value) +
                                            ", not a number or an object with \"default\"");
  }
  auto it = value.find("default");
  if (it == value.end())
    fail(MetricFault::kNoNumericDefault, "value object has no \"default\" key");
  if (!it->is_number()) {
    fail(MetricFault::kNoNumericDefault,
         std::string("value.default is a JSON ") + type_name(*it) + ", not a number");
  }
}

}  // namespace

const char* to_string(MetricType type) {
  return type == MetricType::kFinal ? "FINAL" : "PERIODICAL";
}

bool same_parameter_id(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) return a == b;
  if (a.is_string() && b.is_string()) return a == b;
  if (a.is_null() && b.is_null()) return true;
  return false;
}

std::string dump_python_style(const json& value) {
  if (value.is_object()) {
    std::string out = "{";
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      out += quote(it.key());
      out += ": ";
      out += dump_python_style(it.value());
    }
    return out + "}";
  }
  if (value.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out += ", ";
      out += dump_python_style(value[i]);
    }
    return out + "]";
  }
  return value.dump(-1, ' ', true);
}

void check_result(const json& result) {
  if (result.is_number()) {
    if (!is_finite_number(result)) {
      throw DivergedError("result is NaN or infinite; report a failed trial instead");
    }
    return;
  }
  if (!result.is_object()) {
    throw std::invalid_argument(std::string("result is a JSON ") + type_name(result) +
                                "; expected a number or an object with a numeric \"default\"");
  }
  if (!result.contains("default")) {
    throw std::invalid_argument("result object has no \"default\" key (the value NNI optimizes)");
  }
  for (auto it = result.begin(); it != result.end(); ++it) {
    if (!it->is_number()) {
      throw std::invalid_argument("result key \"" + it.key() + "\" is a JSON " + type_name(*it) +
                                  "; every value must be a number");
    }
    if (!is_finite_number(*it)) {
      throw DivergedError("result key \"" + it.key() +
                          "\" is NaN or infinite; report a failed trial instead");
    }
  }
}

std::string encode_metric(const Metric& metric) {
  std::string out = "{\"parameter_id\": ";
  out += dump_python_style(metric.parameter_id);
  out += ", \"trial_job_id\": ";
  out += quote(metric.trial_job_id);
  out += ", \"type\": \"";
  out += to_string(metric.type);
  out += "\", \"sequence\": ";
  out += std::to_string(metric.sequence);
  out += ", \"value\": ";
  out += quote(dump_python_style(metric.value));
  out += "}";
  return out;
}

std::string encode_metric_command(const std::string& metric_json) {
  return "{\"type\": \"metric\", \"metric\": " + quote(metric_json) + "}";
}

std::string encode_request_parameter_command() { return "{\"type\": \"request_parameter\"}"; }

ParameterRecord parse_parameter_record(std::string_view text, const std::string& source) {
  const std::string where = "parameter record from " + source + ": ";
  std::string why;
  json j = parse_json(text, why);
  if (j.is_discarded()) throw ChannelError(where + why + ": " + excerpt(text));
  if (!j.is_object()) {
    throw ChannelError(where + "is a JSON " + type_name(j) + ", not an object");
  }
  ParameterRecord record;
  auto id = j.find("parameter_id");
  if (id == j.end()) throw ChannelError(where + "missing \"parameter_id\"");
  if (!id->is_number_integer() && !id->is_string()) {
    throw ChannelError(where + "\"parameter_id\" is a JSON " + type_name(*id) +
                       ", not an integer or a string");
  }
  record.parameter_id = *id;
  auto params = j.find("parameters");
  if (params == j.end()) throw ChannelError(where + "missing \"parameters\"");
  if (!params->is_object()) {
    throw ChannelError(where + "\"parameters\" is a JSON " + type_name(*params) +
                       ", not an object");
  }
  record.parameters = *params;
  auto source_it = j.find("parameter_source");
  if (source_it != j.end() && !source_it->is_null()) {
    if (!source_it->is_string()) {
      throw ChannelError(where + "\"parameter_source\" is a JSON " + type_name(*source_it) +
                         ", not a string");
    }
    record.parameter_source = source_it->get<std::string>();
  }
  auto index = j.find("parameter_index");
  if (index != j.end() && !index->is_null()) {
    if (!index->is_number_integer()) {
      throw ChannelError(where + "\"parameter_index\" is a JSON " + type_name(*index) +
                         ", not an integer");
    }
    record.parameter_index = index->get<int>();
  }
  return record;
}

ParameterRecord parse_parameter_command(std::string_view body, const std::string& source) {
  const std::string where = "command from " + source + ": ";
  std::string why;
  json j = parse_json(body, why);
  if (j.is_discarded()) throw ChannelError(where + why + ": " + excerpt(body));
  if (!j.is_object()) throw ChannelError(where + "is a JSON " + type_name(j) + ", not an object");
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) {
    throw ChannelError(where + "missing string \"type\"");
  }
  if (*type != "parameter") {
    throw ChannelError(where + "type is " + type->dump() + ", expected \"parameter\"");
  }
  auto parameter = j.find("parameter");
  if (parameter == j.end()) throw ChannelError(where + "missing \"parameter\"");
  if (!parameter->is_string()) {
    throw ChannelError(where + "\"parameter\" is a JSON " + type_name(*parameter) +
                       ", not a string holding the record");
  }
  return parse_parameter_record(parameter->get_ref<const std::string&>(), source);
}

std::string encode_parameter_record(const ParameterRecord& record) {
  std::string out = "{\"parameter_id\": ";
  out += dump_python_style(record.parameter_id);
  out += ", \"parameter_source\": ";
  out += quote(record.parameter_source);
  out += ", \"parameters\": ";
  out += dump_python_style(record.parameters);
  out += ", \"parameter_index\": ";
  out += std::to_string(record.parameter_index);
  out += "}";
  return out;
}

std::string encode_parameter_command(const ParameterRecord& record) {
  return "{\"type\": \"parameter\", \"parameter\": " + quote(encode_parameter_record(record)) + "}";
}

Metric validate_metric(const json& metric, std::string_view trial_job_id) {
  if (!metric.is_string()) {
    fail(MetricFault::kNotAString, std::string("\"metric\" is a JSON ") + type_name(metric) +
                                       ", not a string holding the metric JSON");
  }
  return validate_metric_text(metric.get_ref<const std::string&>(), trial_job_id);
}

Metric validate_metric_text(std::string_view metric_json, std::string_view trial_job_id) {
  std::string why;
  json j = parse_json(metric_json, why);
  if (j.is_discarded()) {
    if (mentions_non_finite(metric_json, why)) {
      fail(MetricFault::kNotFinite, "holds NaN or Infinity: " + excerpt(metric_json));
    }
    fail(MetricFault::kNotJson, why + ": " + excerpt(metric_json));
  }
  if (!j.is_object()) fail(MetricFault::kNotAnObject, std::string("is a JSON ") + type_name(j));

  static const char* const kKeys[] = {"parameter_id", "trial_job_id", "type", "sequence", "value"};
  for (const char* key : kKeys) {
    if (!j.contains(key)) fail(MetricFault::kMissingKey, std::string("missing \"") + key + "\"");
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* key : kKeys) known = known || it.key() == key;
    if (!known) fail(MetricFault::kExtraKey, "unexpected key " + quote(it.key()));
  }

  Metric m;
  const json& job = j["trial_job_id"];
  if (!job.is_string() || job.get_ref<const std::string&>() != trial_job_id) {
    fail(MetricFault::kWrongTrialJobId,
         "trial_job_id is " + job.dump() + ", expected " + quote(trial_job_id));
  }
  m.trial_job_id = job.get<std::string>();

  const json& id = j["parameter_id"];
  if (!id.is_number_integer() && !id.is_string()) {
    fail(MetricFault::kBadParameterId,
         std::string("parameter_id is a JSON ") + type_name(id) + ", not an integer or a string");
  }
  m.parameter_id = id;

  const json& type = j["type"];
  if (type == "PERIODICAL") {
    m.type = MetricType::kPeriodical;
  } else if (type == "FINAL") {
    m.type = MetricType::kFinal;
  } else {
    fail(MetricFault::kBadType,
         "type is " + type.dump() + ", expected \"PERIODICAL\" or \"FINAL\"");
  }

  const json& seq = j["sequence"];
  if (!seq.is_number_integer() || seq.get<long long>() < 0 || seq.get<long long>() > 1000000000) {
    fail(MetricFault::kBadSequence, "sequence is " + seq.dump() + ", not a non-negative integer");
  }
  m.sequence = seq.get<int>();
  if (m.type == MetricType::kFinal && m.sequence != 0) {
    fail(MetricFault::kBadSequence, "FINAL sequence is " + seq.dump() + ", expected 0");
  }

  const json& value = j["value"];
  if (!value.is_string()) {
    fail(MetricFault::kValueNotAString, std::string("value is a JSON ") + type_name(value) +
                                            ", not a string holding the result JSON");
  }
  const std::string& text = value.get_ref<const std::string&>();
  m.value = parse_json(text, why);
  if (m.value.is_discarded()) {
    if (mentions_non_finite(text, why))
      fail(MetricFault::kNotFinite, "value " + excerpt(text) + " is not finite");
    fail(MetricFault::kValueNotJson, "value " + why + ": " + excerpt(text));
  }
  check_metric_value(m.value);
  return m;
}

MetricChecker::MetricChecker(std::string trial_job_id, json parameter_id)
    : trial_job_id_(std::move(trial_job_id)), parameter_id_(std::move(parameter_id)) {}

Metric MetricChecker::accept(const json& metric) {
  return check_sequence(validate_metric(metric, trial_job_id_));
}

Metric MetricChecker::accept_text(std::string_view metric_json) {
  return check_sequence(validate_metric_text(metric_json, trial_job_id_));
}

Metric MetricChecker::check_sequence(Metric m) {
  if (!same_parameter_id(m.parameter_id, parameter_id_)) {
    fail(MetricFault::kParameterIdMismatch,
         "parameter_id is " + m.parameter_id.dump() + ", expected " + parameter_id_.dump());
  }
  if (m.type == MetricType::kFinal) {
    if (final_received_)
      fail(MetricFault::kDuplicateFinal, "a second FINAL from " + quote(trial_job_id_));
    final_received_ = true;
  } else {
    if (m.sequence != periodical_count_) {
      fail(MetricFault::kBadSequence, "PERIODICAL sequence is " + std::to_string(m.sequence) +
                                          ", expected " + std::to_string(periodical_count_));
    }
    ++periodical_count_;
  }
  return m;
}

}  // namespace nnilib
