// What the dashboard shows of an experiment, as the JSON of its API
// (docs/dashboard.md "The dashboard's API"): read from the experiment directory
// (its database, the trials' progress.json, summary.json and output tails). Shared by
// the live server and the HTML report. Reads only; free of LibTorch.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace nnilib {

/// The id of the experiment in `dir`, from its database alone. Throws UsageError when
/// `dir` holds no experiment database.
std::string experiment_id_of(const std::string& dir);

/// One entry of `api/experiments`: id, name, dir, status, running, elapsed_s, trials,
/// best, created_at. Throws UsageError when `dir` holds no experiment database.
nlohmann::json experiment_list_entry(const std::string& dir);

/// `api/experiments/<id>`: the experiment, its limits, counts by status, the best
/// trial and the best-so-far curve, every trial (with the progress of running ones)
/// and the control requests. `control`: whether the serving process takes them.
nlohmann::json experiment_snapshot(const std::string& dir, bool control);

/// `api/experiments/<id>/trials/<trial>`: the trial with every metric, its keys, the
/// architecture and summary from its summary.json, and the last `tail_bytes` of its
/// stdout and stderr; nullopt when the experiment has no such trial.
std::optional<nlohmann::json> trial_detail(const std::string& dir, const std::string& trial_id,
                                           std::size_t tail_bytes = 8192);

/// trial_detail() of every trial, as an object by trial id, from one read of the
/// database (the HTML report's data).
nlohmann::json trial_details(const std::string& dir, std::size_t tail_bytes);

/// The last `max_bytes` of a file, from the start of a line when one begins in that
/// window; "" when the file is missing or unreadable. Invalid UTF-8 is left to the
/// JSON writer (which replaces it).
std::string file_tail(const std::string& path, std::size_t max_bytes);

}  // namespace nnilib
