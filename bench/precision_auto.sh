#!/usr/bin/env bash
# Does --precision auto pick the faster precision? For the four benchmark architectures
# (bench/run.sh's) and N random points of the default space (--sample, seeds 1..N), each
# trained as fmnist-trial in fp32, in bf16 and in auto, one after the other: the second
# epoch's training speed (img/s, steady state) of each, auto's choice and its reason,
# auto's speed as a share of the faster one's, and each run's fixed start-up in seconds
# (its first epoch's time, set-up and probe included, less its second's; the issue's
# measure with --train-images 2560). Keep the machine quiet.
#   bash bench/precision_auto.sh [--threads 1] [--samples 4] [--train-images 1280]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=1
samples=4
images=1280
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --train-images) images=$2; shift 2 ;;
    *) echo "usage: bench/precision_auto.sh [--threads N] [--samples N] [--train-images N]" >&2; exit 2 ;;
  esac
done
bash scripts/build.sh --target fmnist-trial >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# shellcheck source=bench/benchmark_archs.sh
source bench/benchmark_archs.sh
write_benchmark_archs "$out"
archs=("${benchmark_archs[@]}")
for s in $(seq 1 "$samples"); do
  ./build/fmnist-trial --sample search_space.json --seed "$s" --print-params --dry-run \
    | sed -n 's/^params //p' > "$out/sample-$s.in"
  archs+=("sample-$s")
done

echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $threads thread(s), $images training images, epoch 2"
printf '%-12s %9s %9s %9s %6s %10s %22s  %s\n' arch "fp32/s" "bf16/s" "auto/s" auto "auto/best" \
  "start-up fp32/bf16/auto" "auto's reason"
for a in "${archs[@]}"; do
  for p in fp32 bf16 auto; do
    ./build/fmnist-trial --params-file "$out/$a.in" --params '{"epochs": 2}' \
      --train-size "$images" --val-size 500 --test-size 100 --threads "$threads" \
      --precision "$p" --no-save --output "$out/$a-$p.json" --quiet >/dev/null 2>&1
  done
  /usr/bin/python3 - "$out" "$a" <<'PY'
import json, sys
out, a = sys.argv[1], sys.argv[2]
s = {p: json.load(open(f"{out}/{a}-{p}.json")) for p in ("fp32", "bf16", "auto")}
speed = {p: s[p]["curve"][-1]["images_per_second"] for p in s}
best = max(speed["fp32"], speed["bf16"])
reason = s["auto"]["precision_reason"].split(": ", 1)[-1]
# The fixed start-up (issue 22): the trainer's time to the end of epoch 1 (the probe, the
# model's set-up and first steps; data loading comes before) less a steady epoch's.
def startup(c):
    return c[0]["elapsed_seconds"] - (c[1]["elapsed_seconds"] - c[0]["elapsed_seconds"])
up = "/".join(f"{startup(s[p]['curve']):.1f}" for p in ("fp32", "bf16", "auto"))
print(f"{a:12} {speed['fp32']:9.0f} {speed['bf16']:9.0f} {speed['auto']:9.0f} "
      f"{s['auto']['precision']:>6} {speed['auto'] / best:10.2f} {up:>22}  {reason}")
PY
done
