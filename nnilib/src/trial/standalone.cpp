#include "trial/standalone.h"

#include <cstdio>

#include <unistd.h>

#include "trial/io_util.h"

namespace nnilib {

StandaloneChannel::StandaloneChannel(nlohmann::json parameters)
    : parameters_(std::move(parameters)) {}

ParameterRecord StandaloneChannel::receive_parameter() {
  if (!parameters_.is_object()) {
    throw ParamError(std::string("standalone parameters are a JSON ") + parameters_.type_name() +
                     ", not an object");
  }
  ParameterRecord record;
  record.parameter_id = nullptr;
  record.parameter_source = "standalone";
  record.parameters = parameters_;
  return record;
}

void StandaloneChannel::send_metric(const Metric& metric, const std::string&) {
  std::string line = "[nnilib standalone] ";
  if (metric.type == MetricType::kFinal) {
    line += "final result: ";
  } else {
    line += "intermediate result " + std::to_string(metric.sequence) + ": ";
  }
  line += dump_python_style(metric.value);
  line += '\n';
  std::fflush(stderr);
  write_whole(STDERR_FILENO, line, "stderr");
}

}  // namespace nnilib
