#include "nnilib/trial/trial_environment.h"

#include <cstdlib>

#include "nnilib/common/enum_names.h"
#include "nnilib/trial/channel.h"

namespace nnilib {
namespace {

std::optional<std::string> read_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

bool is_true(const std::optional<std::string>& value) {
  return value && (*value == "true" || *value == "True" || *value == "TRUE");
}

}  // namespace

const char* to_string(ChannelKind kind) {
  static constexpr EnumName<ChannelKind> kNames[] = {{ChannelKind::kV3Http, "v3-http"},
                                                     {ChannelKind::kLegacyFile, "legacy-file"},
                                                     {ChannelKind::kLegacyStdout, "legacy-stdout"},
                                                     {ChannelKind::kStandalone, "standalone"},
                                                     {ChannelKind::kRegistered, "registered"}};
  return name_of(kNames, kind);
}

TrialEnvironment TrialEnvironment::from_process() {
  TrialEnvironment env;
  env.platform = read_env("NNI_PLATFORM");
  env.experiment_id = read_env("NNI_EXP_ID");
  env.trial_job_id = read_env("NNI_TRIAL_JOB_ID");
  env.trial_seq_id = read_env("NNI_TRIAL_SEQ_ID");
  env.sys_dir = read_env("NNI_SYS_DIR");
  env.output_dir = read_env("NNI_OUTPUT_DIR");
  env.code_dir = read_env("NNI_CODE_DIR");
  env.command_channel = read_env("NNI_TRIAL_COMMAND_CHANNEL");
  env.reuse_mode = read_env("REUSE_MODE");
  env.multi_phase = read_env("MULTI_PHASE");
  return env;
}

ChannelKind TrialEnvironment::channel_kind() const {
  if (command_channel) {
    const std::string scheme = url_scheme(*command_channel);
    if (scheme == "http") return ChannelKind::kV3Http;
    if (!scheme.empty()) {
      if (find_channel(scheme) != nullptr) return ChannelKind::kRegistered;
      std::string known = "http";
      for (const ChannelEntry& e : channel_registry()) known += ", " + e.scheme;
      throw ChannelError("NNI_TRIAL_COMMAND_CHANNEL=" + *command_channel + ": no channel for \"" +
                         scheme + "://\" in this program (it knows " + known + ")");
    }
  }
  if (!platform || *platform == "unittest") return ChannelKind::kStandalone;
  if (*platform == "local" && !is_true(reuse_mode)) return ChannelKind::kLegacyFile;
  return ChannelKind::kLegacyStdout;
}

}  // namespace nnilib
