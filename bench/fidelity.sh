#!/usr/bin/env bash
# Which cheap first rung ranks architectures the way 9 epochs do? For N random points of
# a search space (fmnist-trial --sample, seeds 1..N), on the real data:
#   prefix: a third of an epoch of the 9-epoch run (the learning-rate schedule spans 9
#           epochs: what a continued promotion trains), then the rest of it from its
#           checkpoint: its results after 1/3, 1, 3 and 9 epochs;
#   short:  a third of an epoch as a run of its own (the schedule spans the third: the
#           same images and cost as a 16,667-image subset trained once).
# Prints Spearman's rank correlation of each cheap result with the 9-epoch one, and
# whether the best 9-epoch configuration is in each ranking's top third (docs/results.md
# "Which first rung").
#   bash bench/fidelity.sh OUT N [SPACE] [SLOTS]
# SLOTS configurations at a time, one thread each (default 2). $FMNIST_TRIAL names
# another fmnist-trial (default: build/fmnist-trial); $FIDELITY_ARGS adds arguments to
# every run (e.g. "--train-size 2000" to try the script quickly).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/fidelity.sh OUT N [SPACE] [SLOTS]"
out=${1:?$usage}
n=${2:?$usage}
space=${3:-$root/search_space.json}
slots=${4:-2}
trial=${FMNIST_TRIAL:-$root/build/fmnist-trial}
third=0.3333333333
mkdir -p "$out"
run_one() {
  local k=$1 d="$out/c$1"
  mkdir -p "$d"
  # The point's parameters as applied (its nested choices flattened).
  "$trial" --sample "$space" --seed "$k" --dry-run --print-params --quiet |
    sed -n 's/^params //p' > "$d/params.json"
  local common=(--params-file "$d/params.json" --threads 1 --quiet --no-save ${FIDELITY_ARGS:-})
  "$trial" "${common[@]}" --params "{\"TRIAL_BUDGET\": $third}" --schedule-epochs 9 \
    --checkpoint "$d/prefix.pt" --output "$d/prefix_third.json" > "$d/log" 2>&1 || return 0
  "$trial" "${common[@]}" --params '{"TRIAL_BUDGET": 9}' --schedule-epochs 9 \
    --resume-from "$d/prefix.pt" --checkpoint "$d/prefix.pt" --output "$d/prefix_9.json" \
    >> "$d/log" 2>&1 || return 0
  "$trial" "${common[@]}" --params "{\"TRIAL_BUDGET\": $third}" --output "$d/short_third.json" \
    >> "$d/log" 2>&1 || return 0
  rm -f "$d/prefix.pt"
}
running=0
for k in $(seq 1 "$n"); do
  if ((running >= slots)); then wait -n; running=$((running - 1)); fi
  run_one "$k" &
  running=$((running + 1))
done
wait
/usr/bin/python3 - "$out" "$n" <<'PY'
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])

def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None

rows = []
for k in range(1, n + 1):
    d = f"{out}/c{k}"
    p9, pt, st = load(f"{d}/prefix_9.json"), load(f"{d}/prefix_third.json"), load(f"{d}/short_third.json")
    if not (p9 and pt and st):
        print(f"c{k}: incomplete (see {d}/log)")
        continue
    by_epoch = {round(e["epochs_done"], 3): e["val_accuracy"] for e in p9["curve"]}
    rows.append({"k": k, "macs": p9["macs"], "nine": p9["final_val_accuracy"],
                 "prefix_third": pt["final_val_accuracy"], "prefix_1": by_epoch.get(1.0),
                 "prefix_3": by_epoch.get(3.0), "short_third": st["final_val_accuracy"],
                 "seconds_third": st["seconds"], "seconds_9": pt["seconds"] + p9["seconds"]})

def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for m in range(i, j + 1):
            r[order[m]] = (i + j) / 2.0
        i = j + 1
    return r

def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else float("nan")

print("| config | MACs | 9 epochs | prefix 1/3 | prefix 1 | prefix 3 | short 1/3 |")
print("|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: -r["nine"]):
    print(f"| c{r['k']} | {r['macs'] / 1e6:.1f} M | {r['nine']:.4f} | {r['prefix_third']:.4f} | "
          f"{r['prefix_1']:.4f} | {r['prefix_3']:.4f} | {r['short_third']:.4f} |")
if len(rows) >= 3:
    nine = [r["nine"] for r in rows]
    best = max(range(len(rows)), key=lambda i: nine[i])
    top = max(1, len(rows) // 3)
    print()
    print("| cheap result | Spearman with 9 epochs | best 9-epoch config in its top third |")
    print("|---|---|---|")
    for key, label in (("prefix_third", "prefix 1/3 epoch"), ("short_third", "short 1/3 epoch"),
                       ("prefix_1", "prefix 1 epoch"), ("prefix_3", "prefix 3 epochs")):
        xs = [r[key] for r in rows]
        in_top = best in sorted(range(len(rows)), key=lambda i: -xs[i])[:top]
        print(f"| {label} | {spearman(xs, nine):.2f} | {'yes' if in_top else 'no'} |")
    print(f"\n{len(rows)} configurations; a third of an epoch took "
          f"{sum(r['seconds_third'] for r in rows) / len(rows):.0f} s on average as a run of its own")
PY
