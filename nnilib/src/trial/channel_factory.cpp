#include "trial/channel_factory.h"

#include "trial/legacy_file.h"
#include "trial/legacy_stdout.h"
#include "trial/standalone.h"
#include "trial/v3_http.h"

namespace nnilib {
namespace {

std::string required(const std::optional<std::string>& value, const char* name, ChannelKind kind) {
  if (!value) {
    throw ChannelError(std::string(name) + " is not set, but the " + to_string(kind) +
                       " channel needs it");
  }
  return *value;
}

}  // namespace

TrialIdentity resolve_identity(const TrialEnvironment& env, ChannelKind kind) {
  TrialIdentity id;
  const bool standalone = kind == ChannelKind::kStandalone;
  if (env.trial_job_id) {
    id.trial_id = *env.trial_job_id;
  } else if (kind == ChannelKind::kV3Http || kind == ChannelKind::kRegistered) {
    // The v3 URL ends with the trial id: http://host:port/env/<env>/<trial_id>.
    const std::string& url = *env.command_channel;
    id.trial_id = url.substr(url.find_last_of('/') + 1);
    if (id.trial_id.empty()) {
      throw ChannelError("NNI_TRIAL_JOB_ID is not set and NNI_TRIAL_COMMAND_CHANNEL " + url +
                         " does not end with a trial id");
    }
  } else if (standalone) {
    id.trial_id = "STANDALONE";
  } else {
    id.trial_id = required(env.trial_job_id, "NNI_TRIAL_JOB_ID", kind);
  }
  id.experiment_id = env.experiment_id ? *env.experiment_id : (standalone ? "STANDALONE" : "");
  if (env.trial_seq_id) {
    const std::string& s = *env.trial_seq_id;
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) {
      throw ChannelError("NNI_TRIAL_SEQ_ID=\"" + s + "\" is not a non-negative integer");
    }
    id.sequence_id = std::stoi(s);
  }
  id.output_dir = env.output_dir ? *env.output_dir : env.sys_dir ? *env.sys_dir : ".";
  return id;
}

std::unique_ptr<Channel> make_channel(const TrialEnvironment& env, ChannelKind kind,
                                      const TrialIdentity&, nlohmann::json standalone_parameters,
                                      const ChannelOptions& options) {
  switch (kind) {
    case ChannelKind::kV3Http:
      return std::make_unique<V3HttpChannel>(*env.command_channel, options);
    case ChannelKind::kLegacyFile:
      return std::make_unique<LegacyFileChannel>(required(env.sys_dir, "NNI_SYS_DIR", kind),
                                                 options);
    case ChannelKind::kLegacyStdout:
      return std::make_unique<LegacyStdoutChannel>(required(env.sys_dir, "NNI_SYS_DIR", kind),
                                                   options);
    case ChannelKind::kStandalone:
      return std::make_unique<StandaloneChannel>(std::move(standalone_parameters));
    case ChannelKind::kRegistered: {
      const std::string& url = *env.command_channel;
      const ChannelEntry* entry = find_channel(url_scheme(url));
      if (entry == nullptr) throw ChannelError(url + ": no channel registered for its scheme");
      std::unique_ptr<Channel> channel = entry->make(url, options);
      if (!channel) throw ChannelError(url + ": the " + entry->scheme + " channel built nothing");
      return channel;
    }
  }
  throw ChannelError("unknown channel kind");
}

}  // namespace nnilib
