#!/usr/bin/env bash
# Runs the C++ benchmark and its Python peer side by side and prints the C++/Python
# ratios. Needs python3-torch (bash scripts/setup.sh --bench) and a build with
# benchmarks (the default). Takes about 8 minutes on 2 cores; keep the machine quiet.
#   bash bench/run.sh [--threads "1 2"] [--repeats 3] [--train-images 3200]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="1 2"
repeats=3
images=3200
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --train-images) images=$2; shift 2 ;;
    *) echo "usage: bench/run.sh [--threads \"1 2\"] [--repeats N] [--train-images N]" >&2; exit 2 ;;
  esac
done
bash scripts/build.sh --target bench_train >/dev/null
out=$(mktemp -d)
# shellcheck disable=SC2086
./build/bench/bench_train --threads $threads --repeats "$repeats" --train-images "$images" --json "$out/cpp.jsonl" | tee "$out/cpp.txt"
# Same BLAS kernel for the peer: the one the C++ side ran on.
core=$(sed -n 's/^BLAS: OpenBLAS, kernel \([A-Za-z0-9]*\).*/\1/p' "$out/cpp.txt")
if [[ -n "$core" && -z "${OPENBLAS_CORETYPE:-}" ]]; then export OPENBLAS_CORETYPE=$core; fi
# shellcheck disable=SC2086
/usr/bin/python3 bench/python_peer.py --threads $threads --repeats "$repeats" --train-images "$images" > "$out/py.jsonl"
/usr/bin/python3 - "$out/cpp.jsonl" "$out/py.jsonl" <<'PY'
import json, sys
cpp = {(r["arch"], r["threads"]): r for r in map(json.loads, open(sys.argv[1]))}
py = {(r["arch"], r["threads"]): r for r in map(json.loads, open(sys.argv[2]))}
print()
print(f"{'arch':9} {'threads':>7} {'C++ train':>10} {'Py train':>9} {'ratio':>6} "
      f"{'C++ eval':>9} {'Py eval':>8} {'ratio':>6} {'C++ % of matmul':>16}")
for key in sorted(cpp, key=lambda k: (k[1], k[0] != "smallest")):
    c, p = cpp[key], py[key]
    print(f"{key[0]:9} {key[1]:>7} {c['train_images_per_second']:>10.0f} "
          f"{p['train_images_per_second']:>9.0f} "
          f"{c['train_images_per_second'] / p['train_images_per_second']:>5.2f}x "
          f"{c['eval_images_per_second']:>9.0f} {p['eval_images_per_second']:>8.0f} "
          f"{c['eval_images_per_second'] / p['eval_images_per_second']:>5.2f}x "
          f"{100 * c['efficiency']:>15.1f}%")
PY
rm -rf "$out"
