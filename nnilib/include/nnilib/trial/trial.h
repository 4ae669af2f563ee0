// The C++ trial SDK: NNI's Python nni.get_next_parameter / report_intermediate_result /
// report_final_result, with every channel (v3 HTTP, legacy file, legacy stdout,
// standalone, or a program's own: channel.h) hidden behind one class. Torch-free.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "nnilib/common/error.h"
#include "nnilib/trial/protocol.h"
#include "nnilib/trial/trial_environment.h"

namespace nnilib {

/// NNI closed the channel (GET answered 410: the experiment is stopping) before a
/// parameter arrived. No result is owed: a program may exit 0.
struct ChannelClosed : ChannelError {
  explicit ChannelClosed(const std::string& m) : ChannelError(m) {}
};

/// Fault handling of the channels. The defaults report a dead manager (connection
/// refused) within about 8 s, and a hung one within about 25 s.
struct ChannelOptions {
  /// Retries of a failed HTTP request (connection refused, timeout, 5xx) before
  /// ChannelError; 0 = one attempt only. A PUT that may have reached NNI (sent, but
  /// no answer) is never repeated, so a metric is never duplicated.
  int retries = 4;
  /// Wait before the first retry; doubled before each further one.
  std::chrono::milliseconds initial_backoff{500};
  /// Time limit of one HTTP request as a whole (connect, send, the full answer). NNI's
  /// GET long poll answers within about 1 s, so keep this above 1 s.
  std::chrono::milliseconds request_timeout{3000};
  /// How long to wait for the parameter record (v3: across 408 answers; legacy:
  /// for parameter.cfg to exist and be non-empty) before ChannelError.
  std::chrono::milliseconds parameter_wait{std::chrono::minutes(10)};
  /// Polled during waits (parameter, backoff); when it returns true the wait ends
  /// with Interrupted. Typically reads a flag set by a SIGINT handler.
  std::function<bool()> cancelled;
};

/// One NNI trial: fetches its parameter record once and reports results.
/// Move-only (a moved-from Trial may only be destroyed or assigned to); not
/// thread-safe (use one thread, or guard it).
class Trial {
 public:
  /// Chooses the channel from the process environment with NNI's rule (see
  /// TrialEnvironment::channel_kind). `standalone_parameters` is what a standalone
  /// run uses (the program's --params). Throws ChannelError when the environment
  /// is incomplete (e.g. legacy channel without NNI_SYS_DIR or NNI_TRIAL_JOB_ID) or
  /// NNI_TRIAL_COMMAND_CHANNEL has a scheme that no channel serves.
  static Trial from_environment(nlohmann::json standalone_parameters = nlohmann::json::object(),
                                ChannelOptions options = {});
  /// Same, from an explicit environment (tests, embedding).
  static Trial create(const TrialEnvironment& environment,
                      nlohmann::json standalone_parameters = nlohmann::json::object(),
                      ChannelOptions options = {});

  Trial(Trial&&) noexcept;
  Trial& operator=(Trial&&) noexcept;
  Trial(const Trial&) = delete;
  Trial& operator=(const Trial&) = delete;
  ~Trial();

  /// Requests the parameter record once (v3: PUT request_parameter, then GET long
  /// poll; legacy: waits for parameter.cfg); later calls return the same record.
  /// Throws ChannelClosed (410), Interrupted (cancelled), ChannelError (anything else).
  const ParameterRecord& get_next_parameter();
  /// Shorthand for get_next_parameter().parameters.
  const nlohmann::json& parameters() { return get_next_parameter().parameters; }

  /// Reports a PERIODICAL result, sequence 0, 1, 2, ... A result is a finite number,
  /// or an object with a finite numeric "default" and only finite numbers as other
  /// values; otherwise DivergedError (NaN/inf) or std::invalid_argument, before
  /// anything is sent. Requires get_next_parameter() first (std::logic_error).
  void report_intermediate_result(const nlohmann::json& result);
  /// Reports the FINAL result (sequence 0). At most once: a second call throws
  /// std::logic_error. Counts as reported from the moment it is sent, even if the
  /// send fails, so a failed FINAL is never duplicated.
  void report_final_result(const nlohmann::json& result);
  bool final_reported() const;
  /// Intermediate results sent so far.
  int intermediate_count() const;

  /// NNI_TRIAL_JOB_ID (v3: else the URL's last segment; standalone: "STANDALONE").
  const std::string& trial_id() const;
  /// NNI_EXP_ID (when unset: "STANDALONE" in a standalone run, else "").
  const std::string& experiment_id() const;
  /// NNI_TRIAL_SEQ_ID (0 when unset).
  int sequence_id() const;
  /// "v3-http" | "legacy-file" | "legacy-stdout" | "standalone", or the scheme of a
  /// registered channel (channel.h).
  const std::string& channel_name() const;
  ChannelKind channel_kind() const;
  bool standalone() const;
  /// NNI_OUTPUT_DIR, else NNI_SYS_DIR, else ".".
  const std::string& output_dir() const;

 private:
  class Impl;
  explicit Trial(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nnilib
