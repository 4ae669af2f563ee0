#include "nnilib/trial/trial.h"

#include <optional>
#include <stdexcept>

#include "trial/channel_factory.h"

namespace nnilib {

/// The state behind a Trial.
class Trial::Impl {
 public:
  ChannelKind kind;
  std::string channel_name;
  TrialIdentity identity;
  std::unique_ptr<Channel> channel;
  std::optional<ParameterRecord> record;
  int intermediate_count = 0;
  bool final_reported = false;

  Metric make_metric(MetricType type, int sequence, const nlohmann::json& result,
                     const char* caller) const {
    if (!record) {
      throw std::logic_error(std::string(caller) + " called before get_next_parameter()");
    }
    check_result(result);
    Metric m;
    m.parameter_id = record->parameter_id;
    m.trial_job_id = identity.trial_id;
    m.type = type;
    m.sequence = sequence;
    m.value = result;
    return m;
  }
};

Trial::Trial(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trial::Trial(Trial&&) noexcept = default;
Trial& Trial::operator=(Trial&&) noexcept = default;
Trial::~Trial() = default;

Trial Trial::from_environment(nlohmann::json standalone_parameters, ChannelOptions options) {
  return create(TrialEnvironment::from_process(), std::move(standalone_parameters),
                std::move(options));
}

Trial Trial::create(const TrialEnvironment& environment, nlohmann::json standalone_parameters,
                    ChannelOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->kind = environment.channel_kind();
  impl->channel_name = impl->kind == ChannelKind::kRegistered
                           ? url_scheme(*environment.command_channel)
                           : to_string(impl->kind);
  impl->identity = resolve_identity(environment, impl->kind);
  impl->channel = make_channel(environment, impl->kind, impl->identity,
                               std::move(standalone_parameters), options);
  return Trial(std::move(impl));
}

const ParameterRecord& Trial::get_next_parameter() {
  if (!impl_->record) impl_->record = impl_->channel->receive_parameter();
  return *impl_->record;
}

void Trial::report_intermediate_result(const nlohmann::json& result) {
  Metric m = impl_->make_metric(MetricType::kPeriodical, impl_->intermediate_count, result,
                                "report_intermediate_result");
  impl_->channel->send_metric(m, encode_metric(m));
  ++impl_->intermediate_count;
}

void Trial::report_final_result(const nlohmann::json& result) {
  if (impl_->final_reported) {
    throw std::logic_error("report_final_result called twice: NNI accepts one FINAL per trial");
  }
  Metric m = impl_->make_metric(MetricType::kFinal, 0, result, "report_final_result");
  impl_->final_reported = true;  // before sending: a failed FINAL is never repeated
  impl_->channel->send_metric(m, encode_metric(m));
}

bool Trial::final_reported() const { return impl_->final_reported; }
int Trial::intermediate_count() const { return impl_->intermediate_count; }
const std::string& Trial::trial_id() const { return impl_->identity.trial_id; }
const std::string& Trial::experiment_id() const { return impl_->identity.experiment_id; }
int Trial::sequence_id() const { return impl_->identity.sequence_id; }
const std::string& Trial::channel_name() const { return impl_->channel_name; }
ChannelKind Trial::channel_kind() const { return impl_->kind; }
bool Trial::standalone() const { return impl_->kind == ChannelKind::kStandalone; }
const std::string& Trial::output_dir() const { return impl_->identity.output_dir; }

}  // namespace nnilib
