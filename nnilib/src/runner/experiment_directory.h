// Private to the runner: the experiment directory as a session holds it: its lock (one
// runner per experiment), the trial processes a killed runner left behind, each
// trial's own directory and id. (Creating the directory is create_experiment(),
// runner.h, implemented next to these.)
#pragma once

#include <string>
#include <vector>

#include "nnilib/runner/runner.h"

namespace nnilib {

/// The experiment directory's lock, held while the object lives (flock: the kernel
/// releases it even on kill -9), with the holder's pid written in the lock file.
class ExperimentLock {
 public:
  /// Throws UsageError "<dir>: the experiment is being run by another fmnist-nas (pid N);
  /// stop it first" when another process holds it, IoError when it cannot be created.
  explicit ExperimentLock(const ExperimentPaths& paths);
  ~ExperimentLock();
  ExperimentLock(const ExperimentLock&) = delete;
  ExperimentLock& operator=(const ExperimentLock&) = delete;

 private:
  int fd_ = -1;
};

/// Kills (SIGKILL) every process whose environment says it is a trial of experiment
/// `experiment_id` (NNI_EXP_ID and NNI_TRIAL_JOB_ID): what a killed runner left behind,
/// such as the children of compound trial commands. Returns how many.
int kill_leftover_trials(const std::string& experiment_id);

/// Creates the trial's directory and returns it; for a later attempt the earlier
/// attempt's logs are kept as trial.stdout.N and trial.stderr.N. Throws IoError.
std::string prepare_trial_directory(const ExperimentPaths& paths, const TrialRecord& trial);

/// The last non-empty line of a file (of its last 4 KiB), cut to 200 characters; ""
/// when there is none or the file cannot be read.
std::string last_line(const std::string& path);

/// Throws ParamError "<config>: trialCodeDirectory <dir> is not a directory" unless it
/// is one (checked when an experiment is created and again when a session starts).
void require_trial_code_directory(const ExperimentConfig& config);

/// A new random 5-character trial id that none of `trials` has.
std::string new_trial_id(const std::vector<TrialRecord>& trials);

}  // namespace nnilib
