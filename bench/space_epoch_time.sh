#!/usr/bin/env bash
# How long one full epoch (50,000 training images, then 10,000 validation images)
# takes for the most expensive architectures of a search space, on this machine.
# Trains each for one epoch on --train-images images and scales the measured rates.
# Candidates: the costliest of 1,000 samples (fmnist-trial --check-space) and the
# hand-made worst case of the default space (bench/archs/worst-case.json:
# the widest residual blocks everywhere, gelu, average pooling, flatten head, batch
# 64, every augmentation). Keep the machine quiet.
# The trial runs with its default --precision auto (bf16 where this machine runs it
# faster); NNILIB_PRECISION=fp32 measures float32.
#   bash bench/space_epoch_time.sh [--space search_space.json] [--train-images 10000] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
space=search_space.json
images=10000
threads=0
while (($#)); do
  case "$1" in
    --space) space=$2; shift 2 ;;
    --train-images) images=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: bench/space_epoch_time.sh [--space F] [--train-images N] [--threads N]" >&2; exit 2 ;;
  esac
done
bash scripts/build.sh --target fmnist-trial >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
./build/fmnist-trial --check-space "$space" > "$out/check.txt"
sed -n 's/^costliest sample: //p' "$out/check.txt" > "$out/costliest.json"
grep '^cost over' "$out/check.txt"
candidates=("$out/costliest.json")
if [[ "$space" == search_space.json ]]; then candidates+=(bench/archs/worst-case.json); fi
printf '%-40s %5s %9s %10s %10s %12s\n' candidate prec "M MACs" "train/s" "eval/s" "s per epoch"
for c in "${candidates[@]}"; do
  ./build/fmnist-trial --params-file "$c" --params '{"epochs": 1}' --train-size "$images" \
    --val-size 10000 --test-size 1000 --threads "$threads" --no-save --output "$out/s.json" \
    > "$out/log.txt" 2>&1
  /usr/bin/python3 - "$out/s.json" "$(basename "$c")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
e = s["curve"][0]
train_rate = e["images_per_second"]
eval_rate = e["eval_images_per_second"]
full = 50000 / train_rate + 10000 / eval_rate
print(f'{sys.argv[2]:<40} {s["precision"]:>5} {s["macs"] / 1e6:9.2f} {train_rate:10.0f} {eval_rate:10.0f} {full:12.0f}')
PY
done
