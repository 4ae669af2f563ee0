// Legacy stdout channel (NNI 2.x remote, reuse mode, clusters).
#pragma once

#include <string>

#include "nnilib/trial/channel.h"

namespace nnilib {

/// Parameters from $NNI_SYS_DIR/parameter.cfg; each metric printed on stdout as one
/// line NNISDK_MEb'<metric JSON>', written with one write call after flushing the
/// program's own buffered stdout.
class LegacyStdoutChannel : public Channel {
 public:
  LegacyStdoutChannel(std::string sys_dir, ChannelOptions options);

  ParameterRecord receive_parameter() override;
  void send_metric(const Metric& metric, const std::string& metric_json) override;

 private:
  std::string sys_dir_;
  ChannelOptions options_;
};

/// The stdout line for `metric_json`: "NNISDK_MEb'" + metric_json + "'\n".
std::string make_stdout_metric_line(const std::string& metric_json);

}  // namespace nnilib
