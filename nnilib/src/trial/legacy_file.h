// Legacy file channel (NNI 2.x local): parameter.cfg in, .nni/metrics frames out.
#pragma once

#include <string>

#include "nnilib/trial/channel.h"

namespace nnilib {

/// Appends one frame per metric to $NNI_SYS_DIR/.nni/metrics: "ME", the payload's
/// byte length as six digits, the payload (metric JSON + "\n"), in one write.
class LegacyFileChannel : public Channel {
 public:
  LegacyFileChannel(std::string sys_dir, ChannelOptions options);
  ~LegacyFileChannel() override;
  LegacyFileChannel(const LegacyFileChannel&) = delete;
  LegacyFileChannel& operator=(const LegacyFileChannel&) = delete;

  ParameterRecord receive_parameter() override;
  void send_metric(const Metric& metric, const std::string& metric_json) override;

 private:
  std::string sys_dir_;
  std::string metrics_path_;
  ChannelOptions options_;
  int fd_ = -1;
};

/// The frame for `metric_json`: "ME" + 6-digit payload length + metric_json + "\n".
/// Throws ChannelError when the payload reaches 1,000,000 bytes.
std::string make_metric_frame(const std::string& metric_json);

}  // namespace nnilib
