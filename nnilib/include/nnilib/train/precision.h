// Numeric precision of training: float32, or bfloat16 mixed precision (autocast) where
// the hardware makes it faster. The choice logic is torch-free; the speed probe and the
// autocast itself live in the trainer (torch).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "nnilib/model/model_spec.h"

namespace nnilib {

/// What a run asks for. kAuto picks bf16 only where it is faster on this machine.
enum class Precision { kAuto, kFp32, kBf16 };

/// "auto", "fp32", "bf16".
std::string to_string(Precision p);

/// Parses "auto" | "fp32" | "bf16" (also "float32", "bfloat16"); throws UsageError
/// naming `where` (e.g. "--precision" or "NNILIB_PRECISION") otherwise.
Precision parse_precision(const std::string& text, const std::string& where);

/// The environment variable that sets the precision when --precision is not given.
inline constexpr const char* kPrecisionEnv = "NNILIB_PRECISION";

/// The bfloat16 features of the CPU this process runs on (from cpuid, and usable only
/// where the OS enables the register state they need).
struct CpuFeatures {
  std::string vendor;        ///< "GenuineIntel", "AuthenticAMD", ... ("" off x86)
  std::string model;         ///< brand string, e.g. "Intel(R) Xeon(R) Platinum 8480+"
  bool avx512 = false;       ///< AVX-512 F/BW/VL with OS support (oneDNN's bf16 emulation)
  bool avx512_bf16 = false;  ///< AVX512-BF16 dot products (Cooper Lake, Zen 4, Sapphire Rapids)
  bool amx_bf16 = false;     ///< AMX-BF16 tile matrix units (Sapphire Rapids and later)
};

/// Reads the features of this CPU (cpuid + xgetbv; all false on other architectures).
CpuFeatures detect_cpu_features();

/// "AMX-BF16, AVX512-BF16, AVX-512" or "no bfloat16 instructions".
std::string describe(const CpuFeatures& f);

/// The precision a CPU run uses, decided without running anything. `precision` is
/// empty when the features are not conclusive and a speed probe must decide.
struct PrecisionDecision {
  std::optional<Precision> precision;  ///< kFp32 or kBf16; empty: probe
  std::string reason;                  ///< one line, e.g. "AMX-BF16 matrix units"
};

/// The CPU rule: fp32/bf16 as requested; auto = bf16 on AMX-BF16, fp32 without any
/// bfloat16 instructions or without oneDNN, a probe on AVX512-BF16 alone.
PrecisionDecision decide_cpu_precision(Precision requested, const CpuFeatures& cpu, bool onednn);

/// A probe's verdict: the time of one training step of the model at the trial's batch
/// size in each precision (the best of up to three, after a warm-up of each).
struct PrecisionProbe {
  double fp32_ms = 0;
  double bf16_ms = 0;
  bool bf16_works = true;  ///< false when a bf16 step threw (unsupported on the device)
  int pairs = 0;           ///< timed steps per precision
  double total_ms = 0;     ///< the probe's own time, warm-ups included
  /// bf16 counts as faster only by a margin (timing noise, and bf16 costs a little
  /// accuracy): bf16_ms < kBf16Margin * fp32_ms. 0.95: where bf16 is faster by less,
  /// fp32 costs at most 5% of speed.
  static constexpr double kBf16Margin = 0.95;
  bool bf16_faster() const { return bf16_works && bf16_ms < kBf16Margin * fp32_ms; }
};

/// One timed training step of the probe in float32 (false) or bf16 (true): its
/// milliseconds, or nothing when bf16 does not run on the device (never for float32).
using ProbeStep = std::function<std::optional<double>(bool bf16)>;

/// The probe's schedule, torch-free (the steps are `step`'s): a warm-up step of each
/// precision; float32 steps until one is no longer 10% faster than the one before (up to
/// four more; float32 steps after a bf16 one stay slow for a few steps), the fastest of them
/// the first pair's float32 time; then a bf16 step, and further float32/bf16 pairs, up to
/// three pairs in all, until the best of each differ by over 1.25x or the probe has taken
/// 1 s. Five steps at least, twelve at most.
PrecisionProbe run_precision_probe(const ProbeStep& step);

/// Times training steps of `spec`'s model (forward, backward, an optimizer update) on
/// `batch_size` random images, in float32 and under bf16 autocast, on `device` ("cpu",
/// "cuda:0", ...) with the current thread count, on run_precision_probe's schedule.
/// Implemented in the torch library (trainer); leaves the global RNG seeded differently.
/// `stop` is asked before each step: true throws Interrupted (a trial's SIGINT acts
/// within a step).
PrecisionProbe probe_precision(const ModelSpec& spec, const std::string& device, int batch_size,
                               const std::function<bool()>& stop = {});

}  // namespace nnilib
