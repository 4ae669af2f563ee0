// The precision rule of --precision (torch-free): parsing, the decision from faked CPU
// features, the probe's margin, and cpuid read against the kernel's /proc/cpuinfo.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "nnilib/common/error.h"
#include "nnilib/train/precision.h"
#include "test_util.h"

using nnilib::CpuFeatures;
using nnilib::Precision;

namespace {

CpuFeatures features(bool avx512, bool avx512_bf16, bool amx_bf16) {
  CpuFeatures f;
  f.vendor = "GenuineIntel";
  f.avx512 = avx512;
  f.avx512_bf16 = avx512_bf16;
  f.amx_bf16 = amx_bf16;
  return f;
}

// The flags of the first processor in /proc/cpuinfo (empty where there is none).
std::set<std::string> cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    return flags;
  }
  return {};
}

}  // namespace

TEST_CASE("precision names parse, and a bad one names its source") {
  CHECK(nnilib::parse_precision("auto", "--precision") == Precision::kAuto);
  CHECK(nnilib::parse_precision("fp32", "--precision") == Precision::kFp32);
  CHECK(nnilib::parse_precision("BF16", "--precision") == Precision::kBf16);
  CHECK(nnilib::parse_precision("bfloat16", "--precision") == Precision::kBf16);
  CHECK(nnilib::parse_precision("float32", "--precision") == Precision::kFp32);
  CHECK(nnilib::to_string(Precision::kBf16) == "bf16");
  CHECK_THROWS_AS(nnilib::parse_precision("fp16", "--precision"), nnilib::UsageError);
  CHECK_THROWS_WITH(nnilib::parse_precision("half", "NNILIB_PRECISION"),
                    "NNILIB_PRECISION half: unknown precision (expected auto, fp32 or bf16)");
  const std::string long_value(10000, 'x');
  try {
    nnilib::parse_precision(long_value, "--precision");
    FAIL("accepted");
  } catch (const nnilib::UsageError& e) {
    CHECK(std::string(e.what()).size() < 120);  // a huge value is not echoed whole
  }
}

TEST_CASE("auto picks bf16 on AMX, fp32 without bf16 or oneDNN, and probes on AVX512-BF16") {
  const auto decide = [](const CpuFeatures& f, bool onednn = true) {
    return nnilib::decide_cpu_precision(Precision::kAuto, f, onednn);
  };
  SECTION("Sapphire Rapids (AMX-BF16): bf16 without a probe") {
    const auto d = decide(features(true, true, true));
    REQUIRE(d.precision);
    CHECK(*d.precision == Precision::kBf16);
    CHECK(d.reason == "AMX-BF16 matrix units");
  }
  SECTION("Zen 4 or Cooper Lake (AVX512-BF16, no AMX): a probe decides") {
    const auto d = decide(features(true, true, false));
    CHECK_FALSE(d.precision);
    CHECK(d.reason == "AVX512-BF16 without AMX");
  }
  SECTION("Skylake/Ice Lake (AVX-512, no bf16) and AVX2-only CPUs: fp32") {
    for (const CpuFeatures& f : {features(true, false, false), features(false, false, false)}) {
      const auto d = decide(f);
      REQUIRE(d.precision);
      CHECK(*d.precision == Precision::kFp32);
      CHECK(d.reason == "no bfloat16 instructions on this CPU");
    }
  }
  SECTION("without oneDNN even AMX gets fp32") {
    const auto d = decide(features(true, true, true), /*onednn=*/false);
    REQUIRE(d.precision);
    CHECK(*d.precision == Precision::kFp32);
    CHECK_THAT(d.reason, Catch::Contains("oneDNN"));
  }
}

TEST_CASE("an explicit precision is obeyed on any CPU, with a word where bf16 is emulated") {
  for (bool amx : {false, true}) {
    const CpuFeatures f = features(true, amx, amx);
    const auto fp32 = nnilib::decide_cpu_precision(Precision::kFp32, f, true);
    CHECK(*fp32.precision == Precision::kFp32);
    CHECK(fp32.reason == "requested");
    const auto bf16 = nnilib::decide_cpu_precision(Precision::kBf16, f, true);
    CHECK(*bf16.precision == Precision::kBf16);
    if (amx) {
      CHECK(bf16.reason == "requested");
    } else {
      CHECK_THAT(bf16.reason, Catch::Contains("emulated"));
    }
  }
}

TEST_CASE("a probe favours bf16 only by a clear margin and only when it ran") {
  nnilib::PrecisionProbe p;
  p.fp32_ms = 10;
  p.bf16_ms = 5;
  CHECK(p.bf16_faster());
  p.bf16_ms = 9.4;  // 6% faster: past the 5% margin
  CHECK(p.bf16_faster());
  p.bf16_ms = 9.6;  // within the margin: not worth bf16's rounding
  CHECK_FALSE(p.bf16_faster());
  p.bf16_ms = 12;
  CHECK_FALSE(p.bf16_faster());
  p.bf16_ms = 1;
  p.bf16_works = false;
  CHECK_FALSE(p.bf16_faster());
}

TEST_CASE("cpuid agrees with the kernel's /proc/cpuinfo on the bfloat16 features") {
  const std::set<std::string> flags = cpuinfo_flags();
  const CpuFeatures f = nnilib::detect_cpu_features();
  INFO("this CPU: " << f.vendor << " " << f.model << ": " << nnilib::describe(f));
  if (flags.empty() || !flags.count("fpu"))
    NNILIB_SKIP("no x86 /proc/cpuinfo flags to compare with");
  // The kernel lists a feature only when it enabled its register state, as we require.
  CHECK(f.amx_bf16 == (flags.count("amx_bf16") && flags.count("amx_tile")));
  CHECK(f.avx512_bf16 == (flags.count("avx512_bf16") > 0));
  CHECK(f.avx512 == (flags.count("avx512f") && flags.count("avx512bw") && flags.count("avx512vl")));
  CHECK_FALSE(f.vendor.empty());
  CHECK_FALSE(f.model.empty());
  CHECK(nnilib::describe(f).find(f.amx_bf16 ? "AMX-BF16" : "") != std::string::npos);
}

TEST_CASE("describe names the features, or says there is no bfloat16") {
  CHECK(nnilib::describe(features(true, true, true)) == "AMX-BF16, AVX512-BF16, AVX-512");
  CHECK(nnilib::describe(features(true, false, false)) == "AVX-512, no bfloat16");
  CHECK(nnilib::describe(features(false, false, false)) == "no bfloat16 instructions");
}
