#!/usr/bin/env bash
# Accuracy parity of bfloat16 and float32 training on the full data: the seed's default
# CNN for 10 epochs and examples/residual-93.json for 20 epochs, each once with
# --precision fp32 and once with --precision bf16, same seed (1), 2 threads. Prints the
# test accuracies, their difference and both validation curves side by side.
# About 45 minutes on 2 cores with AMX-BF16 (most of it the float32 runs).
#   bash bench/parity.sh [--out DIR]   (DIR keeps the summaries and logs; default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
out=""
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    *) echo "usage: bench/parity.sh [--out DIR]" >&2; exit 2 ;;
  esac
done
if [[ -z "$out" ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
bash scripts/build.sh --target fmnist-trial >/dev/null
run() {  # name precision [args...]
  local name=$1 precision=$2
  shift 2
  ./build/fmnist-trial --precision "$precision" --seed 1 --threads 2 --no-save \
    --output "$out/$name-$precision.json" "$@" > "$out/$name-$precision.log" 2>&1
}
for p in fp32 bf16; do run seed "$p"; done
for p in fp32 bf16; do run residual-93 "$p" --params-file examples/residual-93.json; done
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
for name in ("seed", "residual-93"):
    a = json.load(open(os.path.join(out, f"{name}-fp32.json")))
    b = json.load(open(os.path.join(out, f"{name}-bf16.json")))
    print(f"\n{name}: {a['architecture']}")
    print(f"test accuracy fp32 {a['test_accuracy']:.4f}, bf16 {b['test_accuracy']:.4f}, "
          f"difference {100 * (b['test_accuracy'] - a['test_accuracy']):+.2f} points; "
          f"wall time fp32 {a['seconds']:.0f} s, bf16 {b['seconds']:.0f} s "
          f"({a['seconds'] / b['seconds']:.2f}x); bf16 chosen as: {b['precision_reason']}")
    print("| epoch | fp32 train loss | fp32 val acc | bf16 train loss | bf16 val acc |")
    print("|---:|---:|---:|---:|---:|")
    for x, y in zip(a["curve"], b["curve"]):
        print(f"| {x['epoch']} | {x['train_loss']:.4f} | {x['val_accuracy']:.4f} | "
              f"{y['train_loss']:.4f} | {y['val_accuracy']:.4f} |")
PY
