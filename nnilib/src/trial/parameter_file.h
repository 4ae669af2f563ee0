// parameter.cfg of the legacy channels: wait (bounded) for it, then parse it.
#pragma once

#include <string>

#include "nnilib/trial/protocol.h"
#include "nnilib/trial/trial.h"

namespace nnilib {

/// Waits until `path` exists, is non-empty and holds a complete JSON record, at most
/// options.parameter_wait; then parses it. Throws ChannelError (timeout, unreadable,
/// malformed record) or Interrupted (options.cancelled).
ParameterRecord wait_for_parameter_file(const std::string& path, const ChannelOptions& options);

}  // namespace nnilib
