#include "runner/warm_start.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/runner/experiment_store.h"
#include "nnilib/runner/runner.h"
#include "runner/trial_time.h"

namespace nnilib {

WarmStart read_warm_start(const std::vector<std::string>& dirs, const SearchSpace& space) {
  WarmStart warm;
  for (const std::string& dir : dirs) {
    const ExperimentPaths paths{std::filesystem::absolute(dir).lexically_normal().string()};
    paths.require_existing();
    const std::vector<TrialRecord> trials = ExperimentStore::open(paths.database(), true).trials();
    double max_budget = 0;
    for (const TrialRecord& t : trials)
      max_budget = std::max(max_budget, trial_budget(t.parameters));
    warm.sources.push_back(paths.dir);
    for (const TrialRecord& t : trials) {
      if (t.status != kSucceeded || !t.final_default || !std::isfinite(*t.final_default)) continue;
      try {
        (void)space.from_parameters(configuration_of(t.parameters));
      } catch (const ParamError&) {
        ++warm.outside;
        continue;
      }
      warm.trials.push_back({t.parameters, *t.final_default});
      warm.source_max_budget.push_back(max_budget);
    }
  }
  return warm;
}

std::vector<nlohmann::json> read_enqueued(const std::vector<std::string>& files,
                                          const SearchSpace& space) {
  std::vector<nlohmann::json> points;
  for (const std::string& file : files) {
    const std::string what = "--enqueue " + file + ": ";
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
      throw UsageError(what + "is a directory, not a parameters file");
    if (!std::filesystem::exists(file, ec)) throw UsageError(what + "no such file");
    const auto text = read_small_file(file, 1 << 20);
    if (!text) throw UsageError(what + "cannot read it, or it is over 1 MiB");
    if (const std::string deep = json_depth_problem(*text); !deep.empty())
      throw UsageError(what + deep);
    nlohmann::json point = parse_bounded_json(*text);
    if (point.is_discarded() || !point.is_object())
      throw UsageError(what + "not a JSON object of parameters (one point of the search space)");
    if (point.contains(kTrialBudgetKey)) {
      const nlohmann::json& b = point[kTrialBudgetKey];
      if (!b.is_number() || !(trial_budget(point) > 0) || trial_budget(point) > kMaxBudgetEpochs)
        throw UsageError(what + kTrialBudgetKey + " must be a number of epochs in (0, " +
                         std::to_string(static_cast<int>(kMaxBudgetEpochs)) + "], not " +
                         b.dump().substr(0, 40));
    }
    try {
      (void)space.from_parameters(configuration_of(point));
    } catch (const ParamError& e) {
      throw UsageError(what + "not a point of the search space: " + e.what());
    }
    points.push_back(std::move(point));
  }
  return points;
}

nlohmann::json parameters_for(const Tuner& tuner, const nlohmann::json& parameters) {
  return tuner.continued_budget() > 0 ? parameters : configuration_of(parameters);
}

void save_warm_start(const std::string& path, const WarmStart& warm) {
  nlohmann::json trials = nlohmann::json::array();
  for (std::size_t i = 0; i < warm.trials.size(); ++i)
    trials.push_back({{"parameters", warm.trials[i].parameters},
                      {"value", warm.trials[i].value},
                      {"source_max_budget", warm.source_max_budget[i]}});
  const nlohmann::json j = {{"sources", warm.sources},
                            {"outside", warm.outside},
                            {"trials", trials},
                            {"enqueued", warm.enqueued}};
  write_file_atomically(path, j.dump(1) + "\n", "the warm start's results");
}

WarmStart load_warm_start(const std::string& path) {
  WarmStart warm;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return warm;
  const auto text = read_small_file(path, 256 << 20);
  const nlohmann::json j = text ? parse_bounded_json(*text) : nlohmann::json();
  try {
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    warm.sources = j.at("sources").get<std::vector<std::string>>();
    warm.outside = j.at("outside").get<std::size_t>();
    for (const auto& t : j.at("trials")) {
      warm.trials.push_back({t.at("parameters"), t.at("value").get<double>()});
      warm.source_max_budget.push_back(t.at("source_max_budget").get<double>());
    }
    // Absent from the files of experiments created before --enqueue.
    if (j.contains("enqueued")) warm.enqueued = j.at("enqueued").get<std::vector<nlohmann::json>>();
  } catch (const std::exception& e) {
    throw IoError(path + ": damaged warm-start file (" + std::string(e.what()).substr(0, 120) +
                  ")");
  }
  return warm;
}

std::vector<ImportedTrial> warm_start_for(const Tuner& tuner, const WarmStart& warm) {
  if (tuner.continued_budget() > 0) return warm.trials;
  std::vector<ImportedTrial> full;
  for (std::size_t i = 0; i < warm.trials.size(); ++i) {
    const double budget = trial_budget(warm.trials[i].parameters);
    if (budget > 0 && budget < warm.source_max_budget[i]) continue;
    full.push_back({configuration_of(warm.trials[i].parameters), warm.trials[i].value});
  }
  return full;
}

std::size_t replay_history(Tuner& tuner, Assessor* assessor, const std::vector<TrialRecord>& trials,
                           const WarmStart& warm) {
  std::vector<ImportedTrial> imported;
  for (const TrialRecord& t : trials) {
    if (!t.finished() || t.interrupted) continue;
    if (t.status == kSucceeded && t.final_default)
      imported.push_back({parameters_for(tuner, t.parameters), *t.final_default});
    if (assessor != nullptr) {
      std::vector<double> h;
      for (double v : t.history) {
        h.push_back(v);
        assessor->assess_trial(t.trial_id, h);
      }
      assessor->trial_end(t.trial_id, t.status == kSucceeded);
    }
  }
  // An experiment started from earlier ones: their results first, then its own.
  std::vector<ImportedTrial> seeded = warm_start_for(tuner, warm);
  const std::size_t from_warm = seeded.size();
  seeded.insert(seeded.end(), imported.begin(), imported.end());
  if (!seeded.empty()) tuner.import_data(seeded);
  return from_warm;
}

}  // namespace nnilib
