#!/usr/bin/env bash
# How long should the final training be? Trains one configuration on all 60,000
# training images (--val-size 0) for several epoch counts, the learning-rate schedule
# spanning each run, and prints the test accuracy and the time of each: the evidence
# behind fmnist-nas's default --final-epochs (docs/results.md).
#   bash bench/final_epochs.sh PARAMS.json OUT "10 20 40" [SLOTS]
# SLOTS runs at a time, one thread each (default 2: the two cores). Longest first, so
# the slots end together. Run it on a quiet machine. $FMNIST_TRIAL names another
# fmnist-trial (default: build/fmnist-trial); $TRIAL_ARGS adds arguments to every run
# (e.g. "--tta flip --precision bf16").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
params=${1:?usage: bench/final_epochs.sh PARAMS.json OUT \"10 20 40\" [SLOTS]}
out=${2:?usage: bench/final_epochs.sh PARAMS.json OUT \"10 20 40\" [SLOTS]}
epochs=${3:?usage: bench/final_epochs.sh PARAMS.json OUT \"10 20 40\" [SLOTS]}
slots=${4:-2}
trial=${FMNIST_TRIAL:-$root/build/fmnist-trial}
mkdir -p "$out"
run_one() {
  local e=$1
  mkdir -p "$out/e$e"
  "$trial" --params-file "$params" \
    --params "{\"epochs\": $e}" --val-size 0 --threads 1 --output-dir "$out/e$e" --quiet \
    ${TRIAL_ARGS:-} \
    > "$out/e$e/log" 2>&1 || true  # the table says which failed
}
# Longest first; each slot takes the next run when its last one ends.
mapfile -t order < <(tr ' ' '\n' <<< "$epochs" | grep . | sort -rn)
running=0
for e in "${order[@]}"; do
  if ((running >= slots)); then wait -n; running=$((running - 1)); fi
  run_one "$e" &
  running=$((running + 1))
done
wait
printf '| epochs | test accuracy | wall minutes (1 thread, %s at a time) |\n|---|---|---|\n' "$slots"
for e in $(tr ' ' '\n' <<< "$epochs" | grep . | sort -n); do
  /usr/bin/python3 - "$out/e$e" "$e" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1] + "/summary.json"))
    print(f"| {sys.argv[2]} | {s['test_accuracy']:.4f} | {s['seconds'] / 60:.1f} |")
except (OSError, ValueError, KeyError):
    print(f"| {sys.argv[2]} | failed: {sys.argv[1]}/log | - |")
PY
done
