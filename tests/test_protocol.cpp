// The NNI wire format (nnilib/protocol.h) against hand-written wire strings from the
// protocol notes (docs "How an NNI trial talks to NNI"), the channel selection rule,
// and the stand-in's frame and stdout readers.
#include <cmath>
#include <limits>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "nni_standin/metric_files.h"
#include "nnilib/common/json_limits.h"
#include "nnilib/trial/channel.h"
#include "nnilib/trial/protocol.h"
#include "nnilib/trial/trial_environment.h"

using nlohmann::json;
using nnilib::Metric;
using nnilib::MetricChecker;
using nnilib::MetricFault;
using nnilib::MetricType;
using nnilib::ProtocolError;

namespace {

// The exchange captured from a real NNI 3.0 run.
const char* const kCapturedGet =
    R"({"type":"parameter","parameter":"{\"parameter_id\": 0, \"parameter_source\": \"algorithm\", \"parameters\": {\"x\": 0.489, \"lr\": 0.001}, \"parameter_index\": 0}"})";
const char* const kCapturedPeriodical =
    R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "PERIODICAL", "sequence": 0, "value": "0.163"})";
const char* const kCapturedFinal =
    R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "FINAL", "sequence": 0, "value": "0.489"})";

// The fault validate_metric_text reports for `text` (fails the test when it accepts it).
MetricFault fault_of(const std::string& text, const std::string& trial = "S1i7C") {
  try {
    nnilib::validate_metric_text(text, trial);
  } catch (const ProtocolError& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).rfind("metric: ", 0) == 0);
    return e.fault();
  }
  FAIL("accepted a malformed metric: " << text);
  return MetricFault::kNotJson;
}

// A metric object like the captured one, with `value` as given (already a JSON value).
std::string metric_with(const std::string& key, const json& v) {
  json m = json::parse(kCapturedPeriodical);
  m[key] = v;
  return m.dump();
}

std::string metric_without(const std::string& key) {
  json m = json::parse(kCapturedPeriodical);
  m.erase(key);
  return m.dump();
}

}  // namespace

TEST_CASE("encode_metric reproduces the captured wire strings byte for byte") {
  Metric m;
  m.parameter_id = 0;
  m.trial_job_id = "S1i7C";
  m.type = MetricType::kPeriodical;
  m.sequence = 0;
  m.value = 0.163;
  CHECK(nnilib::encode_metric(m) == kCapturedPeriodical);
  m.type = MetricType::kFinal;
  m.value = 0.489;
  CHECK(nnilib::encode_metric(m) == kCapturedFinal);
}

TEST_CASE("encode_metric nests a dict result as a JSON string and echoes a string id") {
  Metric m;
  m.parameter_id = "2_0_7";
  m.trial_job_id = "Ab12C";
  m.type = MetricType::kPeriodical;
  m.sequence = 3;
  m.value = json{{"default", 0.91}, {"loss", 0.27}};
  CHECK(nnilib::encode_metric(m) ==
        R"({"parameter_id": "2_0_7", "trial_job_id": "Ab12C", "type": "PERIODICAL", )"
        R"("sequence": 3, "value": "{\"default\": 0.91, \"loss\": 0.27}"})");
  // The v3 command wraps the metric JSON once more, as a string.
  const std::string command = nnilib::encode_metric_command(nnilib::encode_metric(m));
  json c = json::parse(command);
  REQUIRE(c["type"] == "metric");
  REQUIRE(c["metric"].is_string());
  json inner = json::parse(c["metric"].get<std::string>());
  CHECK(inner["parameter_id"].is_string());
  CHECK(inner["value"].is_string());
  CHECK(json::parse(inner["value"].get<std::string>())["default"] == 0.91);
  CHECK(nnilib::encode_request_parameter_command() == R"({"type": "request_parameter"})");
}

TEST_CASE("parse_parameter_command reads the captured GET answer") {
  nnilib::ParameterRecord r = nnilib::parse_parameter_command(kCapturedGet, "http://x/env/e/t");
  CHECK(r.parameter_id.is_number_integer());
  CHECK(r.parameter_id == 0);
  CHECK(r.parameter_source == "algorithm");
  CHECK(r.parameters == json{{"x", 0.489}, {"lr", 0.001}});
  CHECK(r.parameter_index == 0);
}

TEST_CASE("a parameter record survives encode/parse with its parameter_id type") {
  nnilib::ParameterRecord r;
  r.parameter_id = "2_0_7";
  r.parameter_source = "algorithm";
  r.parameters = json{{"TRIAL_BUDGET", 3}, {"conv", {{"_name", "deep"}, {"width", 32}}}};
  r.parameter_index = 0;
  nnilib::ParameterRecord back =
      nnilib::parse_parameter_command(nnilib::encode_parameter_command(r), "test");
  CHECK(back.parameter_id.is_string());
  CHECK(back.parameter_id == "2_0_7");
  CHECK(back.parameters == r.parameters);
}

TEST_CASE("parse_parameter_record names what is wrong") {
  auto message = [](const std::string& text) {
    try {
      nnilib::parse_parameter_record(text, "/trial/parameter.cfg");
    } catch (const nnilib::ChannelError& e) {
      CHECK(e.code() == nnilib::ExitCode::kChannel);
      CHECK(std::string(e.what()).find("/trial/parameter.cfg") != std::string::npos);
      return std::string(e.what());
    }
    FAIL("accepted a malformed record: " << text);
    return std::string();
  };
  CHECK_THAT(message("{not json"), Catch::Contains("not JSON"));
  CHECK_THAT(message("[1, 2]"), Catch::Contains("not an object"));
  CHECK_THAT(message(R"({"parameters": {}})"), Catch::Contains("missing \"parameter_id\""));
  CHECK_THAT(message(R"({"parameter_id": 1.5, "parameters": {}})"),
             Catch::Contains("\"parameter_id\" is a JSON number"));
  CHECK_THAT(message(R"({"parameter_id": null, "parameters": {}})"),
             Catch::Contains("\"parameter_id\" is a JSON null"));
  CHECK_THAT(message(R"({"parameter_id": 0})"), Catch::Contains("missing \"parameters\""));
  CHECK_THAT(message(R"({"parameter_id": 0, "parameters": [1]})"),
             Catch::Contains("\"parameters\" is a JSON array, not an object"));
  CHECK_THAT(message(R"({"parameter_id": 0, "parameters": "{}"})"),
             Catch::Contains("\"parameters\" is a JSON string, not an object"));
  CHECK_THAT(message(R"({"parameter_id": 0, "parameters": {}, "parameter_source": 3})"),
             Catch::Contains("\"parameter_source\""));
  CHECK_THAT(message(R"({"parameter_id": 0, "parameters": {}, "parameter_index": "0"})"),
             Catch::Contains("\"parameter_index\""));
}

TEST_CASE("parse_parameter_command names what is wrong with the command") {
  auto message = [](const std::string& body) {
    try {
      nnilib::parse_parameter_command(body, "http://127.0.0.1:1/env/e/t");
    } catch (const nnilib::ChannelError& e) {
      CHECK(std::string(e.what()).find("http://127.0.0.1:1/env/e/t") != std::string::npos);
      return std::string(e.what());
    }
    FAIL("accepted a malformed command: " << body);
    return std::string();
  };
  CHECK_THAT(message("<html>"), Catch::Contains("not JSON"));
  CHECK_THAT(message(R"({"type": "kill"})"), Catch::Contains("expected \"parameter\""));
  CHECK_THAT(message(R"({"type": "parameter"})"), Catch::Contains("missing \"parameter\""));
  CHECK_THAT(message(R"({"type": "parameter", "parameter": {"parameter_id": 0}})"),
             Catch::Contains("\"parameter\" is a JSON object, not a string"));
  CHECK_THAT(message(R"({"type": "parameter", "parameter": "{\"parameter_id\": 0}"})"),
             Catch::Contains("missing \"parameters\""));
}

TEST_CASE("check_result accepts numbers and dicts with a numeric default") {
  CHECK_NOTHROW(nnilib::check_result(0.5));
  CHECK_NOTHROW(nnilib::check_result(3));
  CHECK_NOTHROW(nnilib::check_result(json{{"default", 0.9}, {"val_loss", 0.3}, {"macs", 123456}}));
}

TEST_CASE("check_result refuses NaN and infinity as divergence - naming the key") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  try {
    nnilib::check_result(json{{"default", 0.9}, {"val_loss", nan}});
    FAIL("NaN accepted");
  } catch (const nnilib::Error& e) {
    CHECK(e.code() == nnilib::ExitCode::kDiverged);
    CHECK_THAT(e.what(), Catch::Contains("\"val_loss\""));
  }
  CHECK_THROWS_AS(nnilib::check_result(nan), nnilib::DivergedError);
  CHECK_THROWS_AS(nnilib::check_result(-inf), nnilib::DivergedError);
  CHECK_THROWS_AS(nnilib::check_result(json{{"default", inf}}), nnilib::DivergedError);
}

TEST_CASE("check_result refuses other shapes with invalid_argument naming the key") {
  CHECK_THROWS_AS(nnilib::check_result("0.5"), std::invalid_argument);
  CHECK_THROWS_AS(nnilib::check_result(true), std::invalid_argument);
  CHECK_THROWS_AS(nnilib::check_result(json::array({0.5})), std::invalid_argument);
  CHECK_THROWS_AS(nnilib::check_result(json()), std::invalid_argument);
  CHECK_THROWS_WITH(nnilib::check_result(json{{"loss", 0.2}}), Catch::Contains("\"default\""));
  CHECK_THROWS_WITH(nnilib::check_result(json{{"default", "0.9"}}),
                    Catch::Contains("\"default\" is a JSON string"));
  CHECK_THROWS_WITH(nnilib::check_result(json{{"default", 0.9}, {"arch", "deep"}}),
                    Catch::Contains("\"arch\""));
  CHECK_THROWS_WITH(nnilib::check_result(json{{"default", 0.9}, {"nested", {{"a", 1}}}}),
                    Catch::Contains("\"nested\""));
}

TEST_CASE("validate_metric accepts the captured metrics") {
  Metric p = nnilib::validate_metric(json(kCapturedPeriodical), "S1i7C");
  CHECK(p.type == MetricType::kPeriodical);
  CHECK(p.sequence == 0);
  CHECK(p.parameter_id == 0);
  CHECK(p.value == 0.163);
  Metric f = nnilib::validate_metric_text(kCapturedFinal, "S1i7C");
  CHECK(f.type == MetricType::kFinal);
  CHECK(f.value == 0.489);
  Metric d = nnilib::validate_metric_text(
      metric_with("value", R"({"default": 0.91, "loss": 0.27, "arch": "deep"})"), "S1i7C");
  CHECK(d.value["default"] == 0.91);
  Metric s = nnilib::validate_metric_text(metric_with("parameter_id", "2_0_7"), "S1i7C");
  CHECK(s.parameter_id == "2_0_7");
}

TEST_CASE("validate_metric: metric not a string or not JSON (experiment ERROR)") {
  try {
    nnilib::validate_metric(json::parse(kCapturedPeriodical), "S1i7C");  // an object
    FAIL("metric object accepted");
  } catch (const ProtocolError& e) {
    CHECK(e.fault() == MetricFault::kNotAString);
    CHECK(e.code() == nnilib::ExitCode::kChannel);
  }
  CHECK_THROWS_AS(nnilib::validate_metric(json(0.5), "S1i7C"), ProtocolError);
  CHECK(fault_of(R"({"parameter_id": 0, "trial_job_id": "S1i7C")") == MetricFault::kNotJson);
  CHECK(fault_of("PERIODICAL 0.5") == MetricFault::kNotJson);
  CHECK(fault_of("[0.5]") == MetricFault::kNotAnObject);
}

TEST_CASE("validate_metric: missing and extra keys") {
  for (const char* key : {"parameter_id", "trial_job_id", "type", "sequence", "value"}) {
    INFO(key);
    CHECK(fault_of(metric_without(key)) == MetricFault::kMissingKey);
  }
  CHECK(fault_of(metric_with("timestamp", 12)) == MetricFault::kExtraKey);
}

TEST_CASE("validate_metric: trial_job_id other than the trial's own (experiment ERROR)") {
  CHECK(fault_of(kCapturedPeriodical, "XXXXX") == MetricFault::kWrongTrialJobId);
  CHECK(fault_of(metric_with("trial_job_id", nullptr)) == MetricFault::kWrongTrialJobId);
  CHECK(fault_of(metric_with("trial_job_id", "s1i7c")) == MetricFault::kWrongTrialJobId);
}

TEST_CASE("validate_metric: parameter_id must be an integer or a string") {
  CHECK(fault_of(metric_with("parameter_id", 0.5)) == MetricFault::kBadParameterId);
  CHECK(fault_of(metric_with("parameter_id", nullptr)) == MetricFault::kBadParameterId);
  CHECK(fault_of(metric_with("parameter_id", json::array({0}))) == MetricFault::kBadParameterId);
}

TEST_CASE("validate_metric: type exactly PERIODICAL or FINAL (lower case kills the tuner)") {
  CHECK(fault_of(R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "final", )"
                 R"("sequence": 0, "value": "0.489"})") == MetricFault::kBadType);
  CHECK(fault_of(metric_with("type", "periodical")) == MetricFault::kBadType);
  CHECK(fault_of(metric_with("type", "REQUEST_PARAMETER")) == MetricFault::kBadType);
  CHECK(fault_of(metric_with("type", 1)) == MetricFault::kBadType);
}

TEST_CASE("validate_metric: sequence a non-negative integer - 0 for FINAL") {
  CHECK(fault_of(metric_with("sequence", "0")) == MetricFault::kBadSequence);
  CHECK(fault_of(metric_with("sequence", -1)) == MetricFault::kBadSequence);
  CHECK(fault_of(metric_with("sequence", 1.5)) == MetricFault::kBadSequence);
  CHECK(fault_of(R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "FINAL", )"
                 R"("sequence": 2, "value": "0.489"})") == MetricFault::kBadSequence);
}

TEST_CASE("validate_metric: value must be a JSON string of a number or dict (tuner dies)") {
  // A bare number instead of a JSON string.
  CHECK(fault_of(R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "FINAL", )"
                 R"("sequence": 0, "value": 0.489})") == MetricFault::kValueNotAString);
  CHECK(fault_of(metric_with("value", json{{"default", 0.5}})) == MetricFault::kValueNotAString);
  CHECK(fault_of(metric_with("value", "accuracy=0.5")) == MetricFault::kValueNotJson);
  CHECK(fault_of(metric_with("value", R"("0.5")")) == MetricFault::kValueNotNumeric);
  CHECK(fault_of(metric_with("value", "[0.5]")) == MetricFault::kValueNotNumeric);
  CHECK(fault_of(metric_with("value", "true")) == MetricFault::kValueNotNumeric);
  CHECK(fault_of(metric_with("value", "null")) == MetricFault::kValueNotNumeric);
  CHECK(fault_of(metric_with("value", R"({"loss": 0.2})")) == MetricFault::kNoNumericDefault);
  CHECK(fault_of(metric_with("value", R"({"default": "0.9"})")) == MetricFault::kNoNumericDefault);
  CHECK(fault_of(metric_with("value", R"({"default": null})")) == MetricFault::kNoNumericDefault);
}

TEST_CASE("validate_metric: NaN and infinity refused") {
  CHECK(fault_of(metric_with("value", "NaN")) == MetricFault::kNotFinite);
  CHECK(fault_of(metric_with("value", "-Infinity")) == MetricFault::kNotFinite);
  CHECK(fault_of(metric_with("value", R"({"default": NaN, "loss": 0.1})")) ==
        MetricFault::kNotFinite);
  CHECK(fault_of(metric_with("value", "1e999")) == MetricFault::kNotFinite);
  CHECK(fault_of(metric_with("value", R"({"default": 0.5, "loss": -1e999})")) ==
        MetricFault::kNotFinite);
}

TEST_CASE("MetricChecker: one FINAL only - PERIODICAL in order from 0 - parameter_id echoed") {
  MetricChecker checker("S1i7C", json(0));
  auto periodical = [](int seq) {
    return R"({"parameter_id": 0, "trial_job_id": "S1i7C", "type": "PERIODICAL", "sequence": )" +
           std::to_string(seq) + R"(, "value": "0.1"})";
  };
  CHECK_NOTHROW(checker.accept(json(periodical(0))));
  CHECK_NOTHROW(checker.accept_text(periodical(1)));
  try {
    checker.accept_text(periodical(3));
    FAIL("gap in sequence accepted");
  } catch (const ProtocolError& e) {
    CHECK(e.fault() == MetricFault::kBadSequence);
  }
  CHECK_NOTHROW(checker.accept_text(periodical(2)));  // a refused metric does not count
  CHECK(checker.periodical_count() == 3);
  CHECK_FALSE(checker.final_received());
  CHECK_NOTHROW(checker.accept_text(kCapturedFinal));
  CHECK(checker.final_received());
  try {
    checker.accept_text(kCapturedFinal);
    FAIL("second FINAL accepted");
  } catch (const ProtocolError& e) {
    CHECK(e.fault() == MetricFault::kDuplicateFinal);
  }
  // Reports after the FINAL are still legal PERIODICAL ones.
  CHECK_NOTHROW(checker.accept_text(periodical(3)));
}

TEST_CASE("MetricChecker: parameter_id must keep its JSON type") {
  MetricChecker int_id("S1i7C", json(7));
  try {
    int_id.accept_text(metric_with("parameter_id", "7"));
    FAIL("string id accepted for an integer one");
  } catch (const ProtocolError& e) {
    CHECK(e.fault() == MetricFault::kParameterIdMismatch);
  }
  CHECK_THROWS_AS(int_id.accept_text(metric_with("parameter_id", 8)), ProtocolError);
  CHECK_NOTHROW(int_id.accept_text(metric_with("parameter_id", 7)));
  MetricChecker string_id("S1i7C", json("2_0_7"));
  CHECK_THROWS_AS(string_id.accept_text(metric_with("parameter_id", 207)), ProtocolError);
  CHECK_NOTHROW(string_id.accept_text(metric_with("parameter_id", "2_0_7")));
}

TEST_CASE("encode_metric output passes validate_metric") {
  Metric m;
  m.parameter_id = 12;
  m.trial_job_id = "T0001";
  m.type = MetricType::kFinal;
  m.sequence = 0;
  m.value = json{{"default", 0.875}, {"test_accuracy", 0.86}, {"params", 123456}};
  Metric back = nnilib::validate_metric(json(nnilib::encode_metric(m)), "T0001");
  CHECK(back.value == m.value);
  CHECK(back.parameter_id == 12);
  CHECK(back.type == MetricType::kFinal);
}

TEST_CASE("dump_python_style writes NNI's separators") {
  CHECK(nnilib::dump_python_style(json{{"a", 1}, {"b", json::array({1, 2.5})}}) ==
        R"({"a": 1, "b": [1, 2.5]})");
  CHECK(nnilib::dump_python_style(json::object()) == "{}");
  CHECK(nnilib::dump_python_style(json("\xc3\xa9")) == R"("\u00e9")");
}

TEST_CASE("channel selection follows NNI's rule") {
  using nnilib::ChannelKind;
  nnilib::TrialEnvironment env;
  CHECK(env.channel_kind() == ChannelKind::kStandalone);
  env.platform = "unittest";
  CHECK(env.channel_kind() == ChannelKind::kStandalone);
  env.platform = "local";
  CHECK(env.channel_kind() == ChannelKind::kLegacyFile);
  env.reuse_mode = "true";
  CHECK(env.channel_kind() == ChannelKind::kLegacyStdout);
  env.reuse_mode = "false";
  CHECK(env.channel_kind() == ChannelKind::kLegacyFile);
  env.platform = "remote";
  env.reuse_mode.reset();
  CHECK(env.channel_kind() == ChannelKind::kLegacyStdout);
  env.platform = "kubeflow";
  CHECK(env.channel_kind() == ChannelKind::kLegacyStdout);
  env.command_channel = "http://localhost:50829/env/local-env/S1i7C";
  CHECK(env.channel_kind() == ChannelKind::kV3Http);
  env.platform.reset();  // v3 wins even without NNI_PLATFORM
  CHECK(env.channel_kind() == ChannelKind::kV3Http);
  // Any other scheme is NNI's assertion "Only support HTTP command channel": here a
  // ChannelError naming the variable and the schemes this program knows.
  env.command_channel = "https://localhost:50829/env/local-env/S1i7C";
  CHECK_THROWS_WITH(env.channel_kind(),
                    Catch::StartsWith("NNI_TRIAL_COMMAND_CHANNEL=https://localhost:50829/env/"
                                      "local-env/S1i7C: no channel for \"https://\" in this "
                                      "program (it knows http"));
  env.command_channel = "import://my_module.MyChannel";  // NNI imports a Python class
  CHECK_THROWS_AS(env.channel_kind(), nnilib::ChannelError);
  // A scheme registered by the program selects its channel.
  if (nnilib::find_channel("rule-test") == nullptr) {
    nnilib::register_channel({"rule-test", "for this test", [](const std::string&, auto&) {
                                return std::unique_ptr<nnilib::Channel>();
                              }});
  }
  env.command_channel = "Rule-Test://queue/7";  // schemes are case-insensitive
  CHECK(env.channel_kind() == ChannelKind::kRegistered);
  env.command_channel = "no scheme here";  // not a URL: the platform rule decides
  CHECK(env.channel_kind() == ChannelKind::kStandalone);
  CHECK(std::string(nnilib::to_string(ChannelKind::kV3Http)) == "v3-http");
  CHECK(std::string(nnilib::to_string(ChannelKind::kLegacyFile)) == "legacy-file");
  CHECK(std::string(nnilib::to_string(ChannelKind::kLegacyStdout)) == "legacy-stdout");
  CHECK(std::string(nnilib::to_string(ChannelKind::kStandalone)) == "standalone");
  CHECK(std::string(nnilib::to_string(ChannelKind::kRegistered)) == "registered");
}

TEST_CASE("register_channel refuses NNI's schemes, duplicates, bad schemes and no factory") {
  auto make = [](const std::string&, const nnilib::ChannelOptions&) {
    return std::unique_ptr<nnilib::Channel>();
  };
  for (const char* scheme : {"http", "https", "import"}) {
    CHECK_THROWS_WITH(nnilib::register_channel({scheme, "", make}),
                      std::string("register_channel: the scheme \"") + scheme + "\" is NNI's own");
  }
  for (const char* scheme : {"", "Upper", "9p", "a b", "x:y"}) {
    CAPTURE(scheme);
    CHECK_THROWS_WITH(nnilib::register_channel({scheme, "", make}),
                      Catch::EndsWith("is not a lower-case URL scheme (a-z, then a-z 0-9 + - .)"));
  }
  CHECK_THROWS_WITH(nnilib::register_channel({"no-factory", "", {}}),
                    "register_channel: the channel \"no-factory\" has no factory");
  const auto before = nnilib::channel_registry().size();
  nnilib::register_channel({"my-queue+v2.1", "a test's own", make});
  CHECK(nnilib::channel_registry().size() == before + 1);
  CHECK(nnilib::find_channel("my-queue+v2.1")->summary == "a test's own");
  CHECK_THROWS_WITH(nnilib::register_channel({"my-queue+v2.1", "", make}),
                    "register_channel: the scheme \"my-queue+v2.1\" is already registered");
  CHECK(nnilib::url_scheme("HTTP://h:1/x") == "http");
  CHECK(nnilib::url_scheme("my-queue+v2.1://q") == "my-queue+v2.1");
  CHECK(nnilib::url_scheme("/no/scheme") == "");
  CHECK(nnilib::url_scheme("a b://x") == "");
}

TEST_CASE("stand-in frame reader is byte-exact") {
  using nnilib::standin::parse_metric_frames;
  const std::string a = "{\"a\": 1}";
  const std::string frames = "ME000009" + a + "\n" + "ME000002x\n";
  auto payloads = parse_metric_frames(frames, "metrics");
  REQUIRE(payloads.size() == 2);
  CHECK(payloads[0] == a);
  CHECK(payloads[1] == "x");
  CHECK(parse_metric_frames("", "metrics").empty());
  CHECK_THROWS_WITH(parse_metric_frames("ME000010" + a + "\n", "metrics"),
                    Catch::Contains("truncated"));
  CHECK_THROWS_WITH(parse_metric_frames("ME000008" + a + "\n", "metrics"),
                    Catch::Contains("does not end with"));
  CHECK_THROWS_WITH(parse_metric_frames("MX000009" + a + "\n", "metrics"), Catch::Contains("ME"));
  CHECK_THROWS_WITH(parse_metric_frames("ME00009 " + a + "\n", "metrics"),
                    Catch::Contains("six decimal digits"));
  CHECK_THROWS_WITH(parse_metric_frames("ME0000", "metrics"), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(parse_metric_frames(frames + "M", "m"), Catch::Contains("byte 27"));
}

TEST_CASE("stand-in stdout reader takes whole NNISDK_MEb lines only") {
  using nnilib::standin::parse_stdout_metrics;
  auto metrics = parse_stdout_metrics(std::string("epoch 1\nNNISDK_MEb'") + kCapturedPeriodical +
                                      "'\nother\nNNISDK_MEb'" + kCapturedFinal + "'\n");
  REQUIRE(metrics.size() == 2);
  CHECK(metrics[0] == kCapturedPeriodical);
  CHECK(metrics[1] == kCapturedFinal);
  CHECK_THROWS(parse_stdout_metrics("loss 0.1 NNISDK_MEb'{}'\n"));
  CHECK_THROWS(parse_stdout_metrics("NNISDK_MEb'{}\n"));
}

TEST_CASE("metric text that is not UTF-8 is a ProtocolError, never an escaping exception") {
  // Found by fuzz_metric: the error message quoted an excerpt of the text, and
  // printing bytes that are not UTF-8 (or a character cut at the excerpt's end) threw
  // nlohmann's type_error past every handler.
  MetricChecker checker("S1i7C", json(0));
  CHECK_THROWS_AS(checker.accept_text("{\xaf"), ProtocolError);
  CHECK_THROWS_AS(checker.accept_text("{" + std::string(58, 'a') + "\xc3\xa9"), ProtocolError);
  CHECK_THROWS_AS(checker.accept(json("{" + std::string(58, 'a') + "\xc3\xa9")), ProtocolError);
}

TEST_CASE("valid_utf8 keeps UTF-8 and replaces every other byte with U+FFFD") {
  CHECK(nnilib::valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(nnilib::invalid_utf8_at("caf\xc3\xa9") == std::string::npos);
  CHECK(nnilib::valid_utf8("a\xff"
                           "b") ==
        "a\xef\xbf\xbd"
        "b");
  CHECK(nnilib::invalid_utf8_at("a\xff") == 1);
  CHECK(nnilib::invalid_utf8_at("\xc0\xaf") == 0);          // overlong '/'
  CHECK(nnilib::invalid_utf8_at("\xed\xa0\x80") == 0);      // a surrogate
  CHECK(nnilib::invalid_utf8_at("\xf4\x90\x80\x80") == 0);  // above U+10FFFF
  CHECK(nnilib::invalid_utf8_at("ab\xe2\x82") == 2);        // cut short
  CHECK(nnilib::valid_utf8("ab\xe2\x82") == "ab\xef\xbf\xbd\xef\xbf\xbd");
}
