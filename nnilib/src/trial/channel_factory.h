// The channel NNI's rule chooses for a trial's environment, and the trial's ids.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "nnilib/trial/channel.h"
#include "nnilib/trial/trial.h"
#include "nnilib/trial/trial_environment.h"

namespace nnilib {

/// Identity of the trial, resolved from the environment.
struct TrialIdentity {
  std::string trial_id;
  std::string experiment_id;
  int sequence_id = 0;
  std::string output_dir;
};

/// Resolves the ids for `kind` (throws ChannelError when a required one is missing).
TrialIdentity resolve_identity(const TrialEnvironment& env, ChannelKind kind);

/// Builds the channel of `kind` (TrialEnvironment::channel_kind) for `env`.
std::unique_ptr<Channel> make_channel(const TrialEnvironment& env, ChannelKind kind,
                                      const TrialIdentity& identity,
                                      nlohmann::json standalone_parameters,
                                      const ChannelOptions& options);

}  // namespace nnilib
