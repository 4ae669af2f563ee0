// The environment NNI gives a trial, read once, and NNI's rule for choosing the channel.
#pragma once

#include <optional>
#include <string>

namespace nnilib {

/// The environment through which fmnist-nas asks a trial for checkpoints and
/// continuations (ASHA, Tuner::continued_budget()): the defaults of fmnist-trial's
/// --checkpoint, --resume-from and --schedule-epochs. Not NNI's.
inline constexpr const char* kCheckpointEnv = "NNILIB_CHECKPOINT";
inline constexpr const char* kResumeFromEnv = "NNILIB_RESUME_FROM";
inline constexpr const char* kScheduleEpochsEnv = "NNILIB_SCHEDULE_EPOCHS";

/// How a trial talks to NNI.
enum class ChannelKind {
  kV3Http,        ///< NNI 3.x: PUT/GET on NNI_TRIAL_COMMAND_CHANNEL
  kLegacyFile,    ///< NNI 2.x local: parameter.cfg + .nni/metrics frames
  kLegacyStdout,  ///< NNI 2.x remote, reuse mode, clusters: NNISDK_MEb'...' lines
  kStandalone,    ///< no NNI: parameters from the command line, results logged
  kRegistered,    ///< a program's own, registered for the URL's scheme (channel.h)
};

/// "v3-http", "legacy-file", "legacy-stdout", "standalone" or "registered".
const char* to_string(ChannelKind kind);

/// The NNI variables of a trial's environment (unset variables are empty optionals;
/// an empty value counts as unset).
struct TrialEnvironment {
  std::optional<std::string> platform;         ///< NNI_PLATFORM
  std::optional<std::string> experiment_id;    ///< NNI_EXP_ID
  std::optional<std::string> trial_job_id;     ///< NNI_TRIAL_JOB_ID
  std::optional<std::string> trial_seq_id;     ///< NNI_TRIAL_SEQ_ID
  std::optional<std::string> sys_dir;          ///< NNI_SYS_DIR
  std::optional<std::string> output_dir;       ///< NNI_OUTPUT_DIR
  std::optional<std::string> code_dir;         ///< NNI_CODE_DIR
  std::optional<std::string> command_channel;  ///< NNI_TRIAL_COMMAND_CHANNEL
  std::optional<std::string> reuse_mode;       ///< REUSE_MODE
  std::optional<std::string> multi_phase;      ///< MULTI_PHASE

  /// Reads the process environment (once; nothing else reads it).
  static TrialEnvironment from_process();

  /// NNI's rule: 1. NNI_TRIAL_COMMAND_CHANNEL starts with http:// -> v3, or with
  /// the scheme of a registered channel -> that one (register_channel, where NNI
  /// imports a Python class for import://); any other scheme is a ChannelError;
  /// 2. else NNI_PLATFORM unset or "unittest" -> standalone; 3. else NNI_PLATFORM
  /// "local" and REUSE_MODE not true -> legacy file; 4. else legacy stdout.
  ChannelKind channel_kind() const;
};

}  // namespace nnilib
