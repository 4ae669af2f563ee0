// A C++ NNI trial that needs nothing but nnilib::trial (no LibTorch, SQLite or YAML):
// copy this file and its CMakeLists.txt to start your own. It "trains" a toy model
// for five steps, reporting every step as an intermediate result and the last one as
// the final result, exactly as a Python trial would with nni.get_next_parameter(),
// nni.report_intermediate_result() and nni.report_final_result().
//
//   cpp-trial-example                  standalone: parameters {"x": 0.5}, results printed
//   cpp-trial-example '{"x": 0.2}'     standalone with these parameters
//   under nnictl or fmnist-nas         parameters from the tuner, e.g. the search space
//                                      {"x": {"_type": "uniform", "_value": [0, 1]}}
#include <cstdio>
#include <exception>

#include "nnilib/trial/trial.h"

int main(int argc, char** argv) {
  try {
    // Standalone runs take their parameters from the command line; under NNI they
    // come from the tuner, whichever channel NNI uses (the SDK picks it).
    nlohmann::json standalone = {{"x", 0.5}};
    if (argc > 1) {
      standalone = nlohmann::json::parse(argv[1], nullptr, /*allow_exceptions=*/false);
      if (!standalone.is_object()) {
        std::fprintf(stderr, "cpp-trial-example: error: the argument is not a JSON object\n");
        return static_cast<int>(nnilib::ExitCode::kUsage);
      }
    }
    nnilib::Trial trial = nnilib::Trial::from_environment(standalone);
    const nlohmann::json& params = trial.parameters();
    if (!params.contains("x") || !params["x"].is_number()) {
      std::fprintf(stderr, "cpp-trial-example: error: parameter \"x\" must be a number\n");
      return static_cast<int>(nnilib::ExitCode::kParams);
    }
    const double x = params["x"].get<double>();

    // The "training": a score that improves with every step and is best at x = 0.3.
    double score = 0;
    for (int step = 1; step <= 5; ++step) {
      score = 1.0 - (x - 0.3) * (x - 0.3) - 0.1 / step;
      trial.report_intermediate_result(score);  // NNI charts it, assessors judge it
    }
    trial.report_final_result(score);  // what the tuner optimizes
    std::printf("trial %s (%s channel): x = %g, final result %.6f\n", trial.trial_id().c_str(),
                trial.channel_name().c_str(), x, score);
    return 0;
  } catch (const nnilib::ChannelClosed&) {
    return 0;  // the experiment is stopping: no result is owed
  } catch (const nnilib::Error& e) {
    std::fprintf(stderr, "cpp-trial-example: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cpp-trial-example: error: %s\n", e.what());
    return 1;
  }
}
