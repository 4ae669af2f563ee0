// Standalone channel: no NNI; parameters from the program, results logged on stderr.
#pragma once

#include <nlohmann/json.hpp>

#include "nnilib/trial/channel.h"

namespace nnilib {

/// Returns the program's parameters as the record (parameter_id null, source
/// "standalone") and logs each result as one line on stderr.
class StandaloneChannel : public Channel {
 public:
  explicit StandaloneChannel(nlohmann::json parameters);

  ParameterRecord receive_parameter() override;
  void send_metric(const Metric& metric, const std::string& metric_json) override;

 private:
  nlohmann::json parameters_;
};

}  // namespace nnilib
