// How a trial talks to its manager: the Channel interface behind every channel, and the
// registry through which a program adds its own transport for a URL scheme (the C++
// counterpart of NNI's NNI_TRIAL_COMMAND_CHANNEL=import://module.Class).
// docs/architecture.md, "A new trial channel".
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nnilib/trial/protocol.h"
#include "nnilib/trial/trial.h"

namespace nnilib {

/// One way of talking to a manager: receive the parameter record, send metrics.
/// Trial calls receive_parameter() once, then send_metric() for each result, from
/// one thread. Errors are thrown as ChannelError (or ChannelClosed / Interrupted, see
/// trial.h); Trial never swallows them.
class Channel {
 public:
  virtual ~Channel() = default;
  /// Fetches the parameter record; called once per trial.
  virtual ParameterRecord receive_parameter() = 0;
  /// Sends one metric. `metric_json` is encode_metric(metric), NNI's wire form.
  virtual void send_metric(const Metric& metric, const std::string& metric_json) = 0;
};

/// A channel a program registers for its own URL scheme. A trial whose
/// NNI_TRIAL_COMMAND_CHANNEL is "<scheme>://..." uses it; its ids come from
/// NNI_TRIAL_JOB_ID (else the URL's last path segment), NNI_EXP_ID and NNI_TRIAL_SEQ_ID
/// as for NNI's v3 channel.
struct ChannelEntry {
  /// The URL scheme, as RFC 3986 spells one, in lower case ("jsonl", "my-queue").
  /// NNI's own ("http", "https", "import") cannot be taken.
  std::string scheme;
  /// One line for a reader: what the channel talks to.
  std::string summary;
  /// Builds the channel for the whole NNI_TRIAL_COMMAND_CHANNEL value `url`. Throws
  /// ChannelError naming the URL when it cannot be used.
  std::function<std::unique_ptr<Channel>(const std::string& url, const ChannelOptions& options)>
      make;
};

/// Adds a channel; call it at the start of the program, before any Trial is created
/// (the registry is not locked). Throws std::invalid_argument when the scheme is not
/// a valid lower-case URL scheme, is NNI's or already registered, or the entry has
/// no factory.
void register_channel(ChannelEntry entry);

/// The registered channels, in registration order (NNI's own are built in, not listed).
const std::vector<ChannelEntry>& channel_registry();

/// The entry for `scheme` (lower case, without "://"), or nullptr.
const ChannelEntry* find_channel(const std::string& scheme);

/// The scheme of `url` ("http" for "http://h:1/x"), or "" when it has none.
std::string url_scheme(const std::string& url);

}  // namespace nnilib
