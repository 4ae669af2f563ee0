// The interface every trial channel implements, and the factory choosing one.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "nnilib/trial/protocol.h"
#include "nnilib/trial/trial.h"
#include "nnilib/trial/trial_environment.h"

namespace nnilib {

/// One way of talking to NNI: receive the parameter record, send metrics.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual ChannelKind kind() const = 0;
  /// Fetches the parameter record; called once per trial.
  virtual ParameterRecord receive_parameter() = 0;
  /// Sends one metric. `metric_json` is encode_metric(metric).
  virtual void send_metric(const Metric& metric, const std::string& metric_json) = 0;
};

/// Identity of the trial, resolved from the environment.
struct TrialIdentity {
  std::string trial_id;
  std::string experiment_id;
  int sequence_id = 0;
  std::string output_dir;
};

/// Resolves the ids for `kind` (throws ChannelError when a required one is missing).
TrialIdentity resolve_identity(const TrialEnvironment& env, ChannelKind kind);

/// Builds the channel NNI's rule selects for `env`.
std::unique_ptr<Channel> make_channel(const TrialEnvironment& env, ChannelKind kind,
                                      const TrialIdentity& identity,
                                      nlohmann::json standalone_parameters,
                                      const ChannelOptions& options);

}  // namespace nnilib
