#!/usr/bin/env bash
# What flip test-time augmentation buys on the saved models of an experiment: each
# trial that trained at least MIN_BUDGET epochs, the best TOP by validation accuracy,
# evaluated again from its model.pt with --tta none and --tta flip, in the precision it
# trained in, one thread each, JOBS at a time. Prints one table row per trial and the
# mean gains (docs/results.md "Flip test-time augmentation").
#   bash bench/flip_tta.sh EXPERIMENT_DIR [--min-budget 3] [--top 13] [--jobs 2]
# `--tta none` must give back the trial's own figures (the check that the evaluation is
# the trial's); the script says so when it does not.
set -euo pipefail
cd "$(dirname "$0")/.."
exp=${1:?usage: bench/flip_tta.sh EXPERIMENT_DIR [--min-budget B] [--top N] [--jobs J]}
shift
min_budget=3
top=13
jobs=2
while (($#)); do
  case "$1" in
    --min-budget) min_budget=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) echo "bench/flip_tta.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -d "$exp/trials" ]] || { echo "bench/flip_tta.sh: $exp/trials: no such directory" >&2; exit 2; }
bash scripts/build.sh --target fmnist-trial >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The trials to evaluate: "ID PRECISION" lines, and each one's parameters file.
/usr/bin/python3 - "$exp/trials" "$min_budget" "$top" "$out" > "$out/list" <<'PY'
import json, os, sys
root, min_budget, top, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = []
for tid in os.listdir(root):
    d = os.path.join(root, tid)
    try:
        s = json.load(open(os.path.join(d, "summary.json")))
    except (OSError, ValueError):
        continue
    p = s["parameters"]
    budget = p.get("TRIAL_BUDGET", p.get("epochs", 0))
    if s.get("interrupted") or budget < min_budget or not os.path.exists(os.path.join(d, "model.pt")):
        continue
    rows.append((s["final_val_accuracy"], tid, s, p))
rows.sort(key=lambda r: -r[0])
for _, tid, s, p in rows[:top]:
    json.dump(p, open(os.path.join(out, tid + ".params.json"), "w"))
    json.dump(s, open(os.path.join(out, tid + ".trial.json"), "w"))
    print(tid, s["precision"])
PY
[[ -s "$out/list" ]] || { echo "bench/flip_tta.sh: no trial of $exp has a model.pt at budget >= $min_budget" >&2; exit 2; }

evaluate() {  # ID PRECISION TTA
  ./build/fmnist-trial --params-file "$out/$1.params.json" --evaluate "$exp/trials/$1/model.pt" \
    --precision "$2" --tta "$3" --threads 1 --quiet --output "$out/$1.$3.json" >/dev/null
}
export -f evaluate
export exp out
while read -r id precision; do
  for tta in none flip; do echo "$id $precision $tta"; done
done < "$out/list" | xargs -P "$jobs" -L 1 bash -c 'evaluate "$@"' _

/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
ids = [line.split()[0] for line in open(os.path.join(out, "list"))]
print("| trial | epochs | validation | with flip | gain | test | with flip | gain |")
print("|---|---|---|---|---|---|---|---|")
gains_v, gains_t, mismatches = [], [], []
for tid in ids:
    trial = json.load(open(os.path.join(out, tid + ".trial.json")))
    none = json.load(open(os.path.join(out, tid + ".none.json")))
    flip = json.load(open(os.path.join(out, tid + ".flip.json")))
    p = trial["parameters"]
    budget = p.get("TRIAL_BUDGET", p.get("epochs"))
    v0, v1 = none["final_val_accuracy"], flip["final_val_accuracy"]
    t0, t1 = none["test_accuracy"], flip["test_accuracy"]
    if abs(v0 - trial["final_val_accuracy"]) > 1e-4 or abs(t0 - trial["test_accuracy"]) > 1e-4:
        mismatches.append(tid)
    gains_v.append(v1 - v0)
    gains_t.append(t1 - t0)
    print(f"| {tid} | {budget:g} | {v0:.4f} | {v1:.4f} | {100 * (v1 - v0):+.2f} | {t0:.4f} | "
          f"{t1:.4f} | {100 * (t1 - t0):+.2f} |")
n = len(ids)
print()
print(f"{n} models: validation gain {100 * sum(gains_v) / n:+.2f} points on average "
      f"({sum(g > 0 for g in gains_v)} gained, {sum(g < 0 for g in gains_v)} lost); "
      f"test gain {100 * sum(gains_t) / n:+.2f}")
if mismatches:
    print("--tta none did not give back the trial's own figures for: " + " ".join(mismatches))
else:
    print("--tta none gave back every trial's own validation and test accuracy (to 1e-4)")
PY
