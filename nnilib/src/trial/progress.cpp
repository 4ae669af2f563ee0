#include "nnilib/trial/progress.h"

#include <cmath>
#include <cstdio>

#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"

namespace nnilib {

namespace {
constexpr std::size_t kMaxProgressBytes = 4096;
}  // namespace

nlohmann::json TrialProgress::to_json() const {
  return {{"epoch", epoch},
          {"epochs", epochs},
          {"batch", batch},
          {"batches", batches},
          {"images_per_second", images_per_second},
          {"eta_seconds", eta_seconds},
          {"time", time}};
}

std::string TrialProgress::brief() const {
  const int percent = batches > 0 ? static_cast<int>(100 * batch / batches) : 0;
  char text[96];
  std::snprintf(text, sizeof text, "e%d/%d %d%% %.0f/s", epoch, epochs, percent, images_per_second);
  std::string out = text;
  if (eta_seconds > 0) {
    const long long s = std::llround(eta_seconds);
    std::snprintf(text, sizeof text, s >= 3600 ? " %lld:%02lld:%02lld" : " %lld:%02lld",
                  s >= 3600 ? s / 3600 : s / 60, s >= 3600 ? s / 60 % 60 : s % 60, s % 60);
    out += text;
  }
  return out;
}

void write_trial_progress(const std::string& dir, const TrialProgress& progress) {
  write_file_atomically(dir + "/" + kProgressFile, progress.to_json().dump() + "\n",
                        "the progress file", /*durable=*/false);
}

std::optional<TrialProgress> read_trial_progress(const std::string& dir) {
  const auto text = read_small_file(dir + "/" + kProgressFile, kMaxProgressBytes);
  if (!text) return std::nullopt;
  const auto j = parse_bounded_json<nlohmann::json>(*text);
  if (!j.is_object()) return std::nullopt;
  const auto number = [&j](const char* key, double max) -> std::optional<double> {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return std::nullopt;
    const double v = it->get<double>();
    if (!std::isfinite(v) || v < 0 || v > max) return std::nullopt;
    return v;
  };
  const auto epoch = number("epoch", 1e6), epochs = number("epochs", 1e6),
             batch = number("batch", 1e12), batches = number("batches", 1e12),
             speed = number("images_per_second", 1e12), eta = number("eta_seconds", 1e9),
             time = number("time", 1e11);
  if (!epoch || !epochs || !batch || !batches || !speed || !eta || !time || *batch > *batches)
    return std::nullopt;
  TrialProgress p;
  p.epoch = static_cast<int>(*epoch);
  p.epochs = static_cast<int>(*epochs);
  p.batch = static_cast<long long>(*batch);
  p.batches = static_cast<long long>(*batches);
  p.images_per_second = *speed;
  p.eta_seconds = *eta;
  p.time = *time;
  return p;
}

}  // namespace nnilib
