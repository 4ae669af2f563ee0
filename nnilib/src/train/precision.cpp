#include "nnilib/train/precision.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "nnilib/common/enum_names.h"
#include "nnilib/common/error.h"

namespace nnilib {

namespace {
constexpr EnumName<Precision> kPrecisionNames[] = {
    {Precision::kAuto, "auto"}, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}};

// The probe's time budget: after this, no new pair of steps starts once one pair is timed.
constexpr double kProbeBudgetMs = 1000;
// A pair whose times differ by more than this factor decides: noise between two steps
// a few milliseconds apart is far smaller, so more pairs would not change the answer.
constexpr double kDecisiveRatio = 1.25;
// Float32 warm-up: steps until one takes more than kSettled of the one before (at most
// kMaxFp32WarmUps after the first).
constexpr double kSettled = 0.9;
constexpr int kMaxFp32WarmUps = 4;
constexpr int kMaxPairs = 3;
}  // namespace

std::string to_string(Precision p) { return name_of(kPrecisionNames, p); }

Precision parse_precision(const std::string& text, const std::string& where) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "float32") t = "fp32";  // PyTorch's names too
  if (t == "bfloat16") t = "bf16";
  if (const std::optional<Precision> p = value_of(kPrecisionNames, t)) return *p;
  throw UsageError(where + " " + text.substr(0, 40) +
                   ": unknown precision (expected auto, fp32 or bf16)");
}

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) != 0 && a >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      __get_cpuid(0x80000002 + i, &a, &b, &c, &d);
      std::memcpy(brand + 16 * i, &a, 4);
      std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4);
      std::memcpy(brand + 16 * i + 12, &d, 4);
    }
    f.model = brand;
    const auto first = f.model.find_first_not_of(' ');
    f.model = first == std::string::npos ? "" : f.model.substr(first);
    while (!f.model.empty() && f.model.back() == ' ') f.model.pop_back();
  }
  // The OS must save the registers: XCR0 bits 1-2 (SSE, AVX), 5-7 (AVX-512 state) and
  // 17-18 (AMX tile config and data).
  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = (c >> 27) & 1u;
  uint64_t xcr0 = 0;
  if (osxsave) {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  }
  const bool os_avx512 = (xcr0 & 0xE6) == 0xE6;
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx512f = (b >> 16) & 1u, avx512bw = (b >> 30) & 1u, avx512vl = (b >> 31) & 1u;
    const bool amx_bf16 = (d >> 22) & 1u, amx_tile = (d >> 24) & 1u;
    const unsigned max_sub = a;
    f.avx512 = os_avx512 && avx512f && avx512bw && avx512vl;
    f.amx_bf16 = os_amx && amx_bf16 && amx_tile;
    if (max_sub >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avx512_bf16 = f.avx512 && ((a >> 5) & 1u);
    }
  }
#endif
  return f;
}

std::string describe(const CpuFeatures& f) {
  std::string s;
  const auto add = [&s](bool has, const char* name) {
    if (!has) return;
    if (!s.empty()) s += ", ";
    s += name;
  };
  add(f.amx_bf16, "AMX-BF16");
  add(f.avx512_bf16, "AVX512-BF16");
  add(f.avx512, "AVX-512");
  if (!f.amx_bf16 && !f.avx512_bf16) s += s.empty() ? "no bfloat16 instructions" : ", no bfloat16";
  return s;
}

PrecisionDecision decide_cpu_precision(Precision requested, const CpuFeatures& cpu, bool onednn) {
  const bool native = cpu.amx_bf16 || cpu.avx512_bf16;
  switch (requested) {
    case Precision::kFp32:
      return {Precision::kFp32, "requested"};
    case Precision::kBf16:
      return {Precision::kBf16, native ? "requested"
                                       : "requested (this CPU has no bfloat16 instructions: "
                                         "emulated, likely slower than fp32)"};
    case Precision::kAuto:
      break;
  }
  if (!onednn) return {Precision::kFp32, "oneDNN is off or missing (no fast bf16 kernels)"};
  if (cpu.amx_bf16) return {Precision::kBf16, "AMX-BF16 matrix units"};
  if (cpu.avx512_bf16) return {std::nullopt, "AVX512-BF16 without AMX"};
  return {Precision::kFp32, "no bfloat16 instructions on this CPU"};
}

PrecisionProbe run_precision_probe(const ProbeStep& step) {
  PrecisionProbe probe;
  double spent = 0;
  const auto timed = [&](bool bf16) {
    const std::optional<double> ms = step(bf16);
    if (ms) spent += *ms;
    return ms;
  };
  const auto fp32 = [&] {
    const std::optional<double> ms = timed(false);
    if (!ms) throw std::logic_error("a float32 step of the precision probe gave no time");
    return *ms;
  };
  const auto without_bf16 = [&](double fp32_ms) {
    probe.bf16_works = false;  // e.g. a GPU without bfloat16 support
    probe.bf16_ms = 0;
    probe.pairs = 0;
    probe.fp32_ms = fp32_ms;
    probe.total_ms = spent;
    return probe;
  };
  fp32();  // warm-up: oneDNN creates its kernels
  if (!timed(true)) return without_bf16(fp32());
  // Float32 steps after a bf16 one still pay for something for a few steps (on a Zen 5,
  // a SiLU model with a 5x5 depthwise convolution took 108, 58, then 39-40 ms a step):
  // more float32 steps until one is no longer clearly faster than the one before, so
  // that no pair is decided by a float32 step still warming up (it chose bf16 for that
  // model, which trained 1.35x faster in float32). The settled step is the first pair's.
  double last = fp32();
  for (int i = 0; i < kMaxFp32WarmUps; ++i) {
    const double ms = fp32();
    const bool settled = ms > kSettled * last;
    last = std::min(last, ms);
    if (settled) break;
  }
  probe.fp32_ms = last;
  probe.bf16_ms = 1e30;
  // Alternate, so that a drift of the machine (another process starting) hits both alike;
  // the best of each (the least disturbed). Up to three pairs: fewer when one is decisive
  // or the probe has taken its budget.
  const auto decided = [&] {
    const double ratio = probe.fp32_ms / probe.bf16_ms;
    return ratio > kDecisiveRatio || ratio < 1 / kDecisiveRatio || spent >= kProbeBudgetMs;
  };
  for (;;) {
    const std::optional<double> bf16 = timed(true);
    if (!bf16) return without_bf16(probe.fp32_ms);
    probe.bf16_ms = std::min(probe.bf16_ms, *bf16);
    ++probe.pairs;
    if (probe.pairs >= kMaxPairs || decided()) break;
    probe.fp32_ms = std::min(probe.fp32_ms, fp32());
  }
  probe.total_ms = spent;
  return probe;
}

}  // namespace nnilib
