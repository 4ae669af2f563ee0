#!/usr/bin/env bash
# What an ensemble adds: trains configurations (PARAMS.json files) with seeds on the
# search's split (50,000 / 10,000, --predictions), then prints each model's validation
# and test accuracy and those of every pair's averaged class probabilities
# (docs/results.md "What the final training's time buys"). Decide on validation.
#   bash bench/ensemble_gain.sh OUT EPOCHS "a.json:1 a.json:2 b.json:1" [SLOTS]
# Each item is PARAMS.json:SEED; SLOTS runs at a time, one thread each (default 2).
# $FMNIST_TRIAL names another fmnist-trial (default: build/fmnist-trial); $TRIAL_ARGS
# adds arguments to every run (default "--tta flip"); with "--ema-epochs E" among them the
# table also gives each model's figures without weight averaging.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage='usage: bench/ensemble_gain.sh OUT EPOCHS "a.json:1 a.json:2 b.json:1" [SLOTS]'
out=${1:?$usage}
epochs=${2:?$usage}
items=${3:?$usage}
slots=${4:-2}
trial=${FMNIST_TRIAL:-$root/build/fmnist-trial}
mkdir -p "$out"
files=()
running=0
for item in $items; do
  params=${item%:*} seed=${item##*:}
  name="$(basename "$params" .json)-s$seed"
  files+=("$out/$name.json")
  if ((running >= slots)); then wait -n; running=$((running - 1)); fi
  "$trial" --params-file "$params" --params "{\"epochs\": $epochs}" --seed "$seed" --threads 1 \
    ${TRIAL_ARGS:---tta flip} --no-save --predictions "$out/$name.json" \
    --output "$out/$name.summary.json" --quiet \
    > "$out/$name.log" 2>&1 &
  running=$((running + 1))
done
wait
/usr/bin/python3 - "${files[@]}" <<'PY'
import itertools, json, sys
data = {f: json.load(open(f)) for f in sys.argv[1:]}
def accuracy(files, split):
    labels = data[files[0]][split]["labels"]
    ok = 0
    for i, label in enumerate(labels):
        s = [sum(data[f][split]["probabilities"][i][c] for f in files) for c in range(len(data[files[0]][split]["probabilities"][i]))]
        ok += max(range(len(s)), key=lambda c: s[c]) == label
    return ok / len(labels)
name = lambda f: f.rsplit("/", 1)[-1][:-5]
def without_ema(f):  # the last weights' figures when the run averaged its weights
    try:
        s = json.load(open(f[:-5] + ".summary.json"))
        return f" | {s['val_accuracy_without_ema']:.4f} | {s['test_accuracy_without_ema']:.4f}"
    except (OSError, ValueError, KeyError):
        return " | - | -"
print("| models | validation | test | validation without EMA | test without EMA |")
print("|---|---|---|---|---|")
for f in data:
    print(f"| {name(f)} | {accuracy([f], 'validation'):.4f} | {accuracy([f], 'test'):.4f}{without_ema(f)} |")
for a, b in itertools.combinations(data, 2):
    print(f"| {name(a)} + {name(b)} | {accuracy([a, b], 'validation'):.4f} | {accuracy([a, b], 'test'):.4f} | - | - |")
PY
