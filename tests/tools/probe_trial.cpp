// probe_trial: a tiny torch-free NNI trial built on nnilib::core, used by the tests
// the way a user's program uses the trial API. Options make it misbehave on purpose.
//
//   probe_trial [--params JSON] [--epochs N] [--sleep-ms MS] [--retries N]
//               [--backoff-ms MS] [--timeout-ms MS] [--param-wait-ms MS]
//               [--nan-at K] [--final-nan] [--double-final] [--no-final] [--bad-result]
//
// Reports `epochs` intermediate results {"default": x*(i+1)/epochs, "loss": 1/(i+1)},
// then the final {"default": x, "loss": 1/epochs} where x is parameters["x"] (0.5 if
// absent). Exit codes: 0 ok (also when the channel closed before a parameter),
// nnilib::ExitCode for nnilib errors, 1 for any other error, 130 after SIGINT.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>
#include <thread>

#include "nnilib/trial/trial.h"

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted = true; }

struct Args {
  nlohmann::json params = nlohmann::json::object();
  int epochs = 3;
  int sleep_ms = 0;
  int nan_at = -1;
  bool final_nan = false;
  bool double_final = false;
  bool no_final = false;
  bool bad_result = false;
  nnilib::ChannelOptions options;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw nnilib::UsageError(arg + " needs a value");
      return argv[++i];
    };
    auto number = [&]() { return std::stoi(value()); };
    if (arg == "--params") {
      a.params = nlohmann::json::parse(value());
    } else if (arg == "--epochs") {
      a.epochs = number();
    } else if (arg == "--sleep-ms") {
      a.sleep_ms = number();
    } else if (arg == "--retries") {
      a.options.retries = number();
    } else if (arg == "--backoff-ms") {
      a.options.initial_backoff = std::chrono::milliseconds(number());
    } else if (arg == "--timeout-ms") {
      a.options.request_timeout = std::chrono::milliseconds(number());
    } else if (arg == "--param-wait-ms") {
      a.options.parameter_wait = std::chrono::milliseconds(number());
    } else if (arg == "--nan-at") {
      a.nan_at = number();
    } else if (arg == "--final-nan") {
      a.final_nan = true;
    } else if (arg == "--double-final") {
      a.double_final = true;
    } else if (arg == "--no-final") {
      a.no_final = true;
    } else if (arg == "--bad-result") {
      a.bad_result = true;
    } else {
      throw nnilib::UsageError("unknown option " + arg);
    }
  }
  return a;
}

int run(const Args& args) {
  nnilib::ChannelOptions options = args.options;
  options.cancelled = [] { return g_interrupted.load(); };
  nnilib::Trial trial = nnilib::Trial::from_environment(args.params, options);
  std::cout << "probe: channel=" << trial.channel_name() << " trial=" << trial.trial_id()
            << " experiment=" << trial.experiment_id() << " seq=" << trial.sequence_id()
            << " output_dir=" << trial.output_dir() << std::endl;
  const nnilib::ParameterRecord& record = trial.get_next_parameter();
  std::cout << "probe: parameter_id=" << record.parameter_id.dump()
            << " parameters=" << record.parameters.dump() << std::endl;
  const nlohmann::json& p = record.parameters;
  const double x = p.contains("x") && p["x"].is_number() ? p["x"].get<double>() : 0.5;
  const double nan = std::numeric_limits<double>::quiet_NaN();

  for (int i = 0; i < args.epochs; ++i) {
    if (g_interrupted) {
      std::cout << "probe: interrupted after " << i << " epoch(s), no final result" << std::endl;
      return static_cast<int>(nnilib::ExitCode::kInterrupted);
    }
    if (args.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(args.sleep_ms));
    nlohmann::json result = {{"default", x * (i + 1) / args.epochs}, {"loss", 1.0 / (i + 1)}};
    if (i == args.nan_at) result["default"] = nan;
    if (args.bad_result) result = "0.5";
    trial.report_intermediate_result(result);
    std::cout << "probe: epoch " << i << " reported " << result.dump() << std::endl;
  }
  if (g_interrupted) {
    std::cout << "probe: interrupted, no final result" << std::endl;
    return static_cast<int>(nnilib::ExitCode::kInterrupted);
  }
  if (!args.no_final) {
    nlohmann::json final_result = {{"default", args.final_nan ? nan : x},
                                   {"loss", 1.0 / std::max(args.epochs, 1)}};
    trial.report_final_result(final_result);
    std::cout << "probe: final reported" << std::endl;
    if (args.double_final) trial.report_final_result(final_result);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  try {
    return run(parse_args(argc, argv));
  } catch (const nnilib::ChannelClosed& e) {
    std::cerr << "probe: " << e.what() << " (no result owed; exiting 0)" << std::endl;
    return 0;
  } catch (const nnilib::Error& e) {
    std::cerr << "probe: error: " << e.what() << std::endl;
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "probe: error: " << e.what() << std::endl;
    return 1;
  }
}
