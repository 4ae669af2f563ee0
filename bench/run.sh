#!/usr/bin/env bash
# Runs the C++ benchmark and its Python peer side by side, in float32 and bfloat16, and
# prints the ratios; the peer runs in PyTorch's default layout (NCHW) and in channels_last
# (the C++ trial's layout), and both ratios are printed. Architectures: the seed's smallest and largest CNN,
# examples/residual-93.json and the default space's worst case
# (bench/archs/worst-case.json). Needs python3-torch (bash scripts/setup.sh
# --bench) and a build with benchmarks (the default). About 30 minutes on 2 cores; keep
# the machine quiet.
#   bash bench/run.sh [--threads "1 2"] [--repeats 3] [--train-images 3200] [--profile]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="1 2"
repeats=3
images=3200
profile=()
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --train-images) images=$2; shift 2 ;;
    --profile) profile=(--profile); shift ;;
    *) echo "usage: bench/run.sh [--threads \"1 2\"] [--repeats N] [--train-images N] [--profile]" >&2; exit 2 ;;
  esac
done
bash scripts/build.sh --target bench_train --target fmnist-trial >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Every architecture as a parameters file with every value filled in (what the trial
# applies), which the Python peer reads.
# shellcheck source=bench/benchmark_archs.sh
source bench/benchmark_archs.sh
write_benchmark_archs "$out"
arch_args=()
for name in "${benchmark_archs[@]}"; do
  ./build/fmnist-trial --params-file "$out/$name.in" --print-params --dry-run \
    | sed -n 's/^params //p' > "$out/$name.json"
  arch_args+=("$name=$out/$name.json")
done

# shellcheck disable=SC2086
./build/bench/bench_train --threads $threads --repeats "$repeats" --train-images "$images" \
  --precision fp32 bf16 --arch "${arch_args[@]}" "${profile[@]}" --json "$out/cpp.jsonl" | tee "$out/cpp.txt"
# Same BLAS kernel for the peer: the one the C++ side ran on.
core=$(sed -n 's/.*BLAS: OpenBLAS, kernel \([A-Za-z0-9]*\).*/\1/p' "$out/cpp.txt")
if [[ -n "$core" && -z "${OPENBLAS_CORETYPE:-}" ]]; then export OPENBLAS_CORETYPE=$core; fi
# shellcheck disable=SC2086
/usr/bin/python3 bench/python_peer.py --threads $threads --repeats "$repeats" --train-images "$images" \
  --precision fp32 bf16 --layout nchw channels_last --arch "${arch_args[@]}" > "$out/py.jsonl"
/usr/bin/python3 - "$out/cpp.jsonl" "$out/py.jsonl" <<'PY'
import json, sys
cpp, ceil = {}, {}
for r in map(json.loads, open(sys.argv[1])):
    if r["impl"] == "ceilings":
        ceil[r["threads"]] = r
    else:
        cpp[(r["arch"], r["threads"], r["precision"])] = r
py, py_cl = {}, {}
for r in map(json.loads, open(sys.argv[2])):
    (py_cl if r.get("layout") == "channels_last" else py)[(r["arch"], r["threads"], r["precision"])] = r
order = ["smallest", "largest", "residual-93", "worst-case"]
print()
print("training images/s (best epoch); ratios C++/Python; % = C++ training FLOP rate of the "
      "3x3-convolution ceiling of its precision")
print(f"{'arch':12} {'thr':>3} {'C++ fp32':>9} {'C++ bf16':>9} {'bf16/fp32':>9} {'Py fp32':>8} "
      f"{'Py bf16':>8} {'C++fp32/Py':>10} {'C++bf16/Pyfp32':>14} {'C++bf16/Pybf16':>14} "
      f"{'% ceil fp32':>11} {'% ceil bf16':>11}")
for t in sorted(ceil):
    for a in order:
        c32, c16 = cpp.get((a, t, "fp32")), cpp.get((a, t, "bf16"))
        p32, p16 = py.get((a, t, "fp32")), py.get((a, t, "bf16"))
        if not (c32 and c16 and p32 and p16):
            continue
        ips = lambda r: r["train_images_per_second"]
        print(f"{a:12} {t:>3} {ips(c32):>9.0f} {ips(c16):>9.0f} {ips(c16) / ips(c32):>8.2f}x "
              f"{ips(p32):>8.0f} {ips(p16):>8.0f} {ips(c32) / ips(p32):>9.2f}x "
              f"{ips(c16) / ips(p32):>13.2f}x {ips(c16) / ips(p16):>13.2f}x "
              f"{100 * c32['train_gflops'] / ceil[t]['conv_fp32']:>10.1f}% "
              f"{100 * c16['train_gflops'] / ceil[t]['conv_bf16']:>10.1f}%")
print()
print("the same C++ runs against the Python peer in channels_last (model and batches)")
print(f"{'arch':12} {'thr':>3} {'PyCL fp32':>9} {'PyCL bf16':>9} {'CL/NCHW fp32':>12} "
      f"{'CL/NCHW bf16':>12} {'C++fp32/PyCL':>12} {'C++bf16/PyCLbf16':>16}")
for t in sorted(ceil):
    for a in order:
        c32, c16 = cpp.get((a, t, "fp32")), cpp.get((a, t, "bf16"))
        p32, p16 = py.get((a, t, "fp32")), py.get((a, t, "bf16"))
        l32, l16 = py_cl.get((a, t, "fp32")), py_cl.get((a, t, "bf16"))
        if not (c32 and c16 and p32 and p16 and l32 and l16):
            continue
        ips = lambda r: r["train_images_per_second"]
        print(f"{a:12} {t:>3} {ips(l32):>9.0f} {ips(l16):>9.0f} {ips(l32) / ips(p32):>11.2f}x "
              f"{ips(l16) / ips(p16):>11.2f}x {ips(c32) / ips(l32):>11.2f}x "
              f"{ips(c16) / ips(l16):>15.2f}x")
print()
print("evaluation images/s")
print(f"{'arch':12} {'thr':>3} {'C++ fp32':>9} {'C++ bf16':>9} {'Py fp32':>8} {'Py bf16':>8}")
for t in sorted(ceil):
    for a in order:
        rows = [cpp.get((a, t, "fp32")), cpp.get((a, t, "bf16")), py.get((a, t, "fp32")),
                py.get((a, t, "bf16"))]
        if all(rows):
            print(f"{a:12} {t:>3} " + " ".join(f"{r['eval_images_per_second']:>{w}.0f}"
                                                for r, w in zip(rows, (9, 9, 8, 8))))
PY
