#!/usr/bin/env bash
# Two trials at a time with one thread each, or one trial with both threads? Trains the
# same model (default: examples/residual-93.json, three blocks) on IMAGES training
# images for EPOCHS epochs: one 2-thread trial alone, then two 1-thread trials side by
# side, ROUNDS times alternating, and prints the throughput of each and their ratio
# (docs/benchmarks.md "The default search space: time per epoch"; config.yml runs two
# trials at a time because of it). Keep the machine quiet.
#   bash bench/concurrency.sh [--params FILE] [--images 5000] [--epochs 2] [--rounds 2]
#                             [--precision auto]
set -euo pipefail
cd "$(dirname "$0")/.."
params=examples/residual-93.json
images=5000
epochs=2
rounds=2
precision=auto
while (($#)); do
  case "$1" in
    --params) params=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    *) echo "bench/concurrency.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bash scripts/build.sh --target fmnist-trial >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

trial() {  # THREADS NAME SEED
  ./build/fmnist-trial --params-file "$params" --params "{\"epochs\": $epochs}" \
    --train-size "$images" --val-size 1000 --test-size 1000 --threads "$1" --seed "$3" \
    --precision "$precision" --quiet --no-save --output "$out/$2.json" >/dev/null \
    2>"$out/$2.err" || { cat "$out/$2.err" >&2; exit 1; }
}

# Training images per second of a run, its best epoch (as the trial measures it: the
# epoch's training, not its evaluation or the start-up), and its precision.
ips() {
  /usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(max(e["images_per_second"] for e in s["curve"]), s["precision"])' "$1"
}

echo "model $params, $images images, $epochs epochs, precision $precision; $(nproc) cores"
echo "round  one trial, 2 threads (img/s)  two trials, 1 thread each (img/s, sum)  ratio"
for ((r = 1; r <= rounds; r++)); do
  trial 2 alone 1
  trial 1 left 1 &
  left_pid=$!
  trial 1 right 2 &
  right_pid=$!
  wait "$left_pid"
  wait "$right_pid"
  read -r a prec < <(ips "$out/alone.json")
  read -r left _ < <(ips "$out/left.json")
  read -r right _ < <(ips "$out/right.json")
  /usr/bin/python3 -c '
import sys
r, a, l, g, p = sys.argv[1], *map(float, sys.argv[2:5]), sys.argv[5]
print(f"{r:>5}  {a:>24.0f} ({p})  {l + g:>24.0f} ({l:.0f} + {g:.0f})  {(l + g) / a:>10.2f}x")' \
    "$r" "$a" "$left" "$right" "$prec"
done
