#!/usr/bin/env bash
# What a warm start gains over a cold start at equal time (docs/results.md "Warm start"):
# a first search of MINUTES (cold, seed 1; or FIRST, an earlier experiment directory),
# then two second searches of MINUTES each on the same config, one with --warm-start from
# the first and one cold, both seed 2; each is stopped at its limit. Prints
# for each second search when it first passed the seed's 91.4% validation (wall and CPU
# minutes) and its best validation result at every few minutes.
#   bash bench/warm_start.sh OUT MINUTES [CONFIG] [FIRST]
# CONFIG: default config.yml (BOHB, 2 one-thread trials at a time). $FMNIST_NAS names
# another fmnist-nas (default: build/fmnist-nas). ENQUEUE=FILE adds a second search
# "enqueued" (seed 2, cold, `--enqueue FILE`: that configuration is trained first);
# SEARCHES picks the second searches (default "warm cold", and "enqueued" with ENQUEUE):
#   ENQUEUE=examples/first-trial.json SEARCHES=enqueued bash bench/warm_start.sh OUT 15
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/warm_start.sh OUT MINUTES [CONFIG] [FIRST]"
out=${1:?$usage}
minutes=${2:?$usage}
config=${3:-$root/config.yml}
first=${4:-}
nas=${FMNIST_NAS:-$root/build/fmnist-nas}
mkdir -p "$out"
search() {  # search NAME SEED [--warm-start DIR]
  local name=$1 seed=$2
  shift 2
  if [[ -f "$out/$name/experiment.db" ]]; then
    echo "$name: kept from an earlier run ($out/$name)"
  else
    echo "$name: $minutes minutes, seed $seed $*"
    "$nas" run --config "$config" --experiment-dir "$out/$name" --seed "$seed" --plain \
      --no-final-train --max-experiment-duration "${minutes}m" "$@" >"$out/$name.log" 2>&1 &
    local pid=$!
    # At the limit the search is stopped (SIGINT) instead of waiting for its running
    # trials: what they would add comes after the minutes compared, and costs time.
    while kill -0 "$pid" 2>/dev/null; do
      if grep -q 'maxExperimentDuration .* reached' "$out/$name.log"; then
        kill -INT "$pid" 2>/dev/null || true
        break
      fi
      sleep 2
    done
    wait "$pid" || true
  fi
  "$nas" export "$out/$name" --format json -o "$out/$name.json"
}
enqueue=${ENQUEUE:-}
searches=${SEARCHES:-warm cold${enqueue:+ enqueued}}
shown=()
for name in $searches; do
  case $name in
    warm)
      if [[ -n "$first" ]]; then
        "$nas" export "$first" --format json -o "$out/first.json"
      else
        search first 1
        first=$out/first
      fi
      shown+=(first)
      search warm 2 --warm-start "$first" ;;
    cold) search cold 2 ;;
    enqueued) search enqueued 2 --enqueue "${enqueue:?ENQUEUE=FILE names what is enqueued}" ;;
    *) echo "bench/warm_start.sh: unknown search $name (warm, cold, enqueued)" >&2; exit 2 ;;
  esac
  shown+=("$name")
done
/usr/bin/python3 - "$out" "$minutes" "${shown[@]}" <<'PY'
import json, sys
out, minutes, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
seed_level = 0.914
def results(name):
    d = json.load(open(f"{out}/{name}.json"))
    cfg = d["experiment"]["config"]
    slots = cfg.get("trialConcurrency", 1)
    r = []
    for t in d["trials"]:
        for v, at in zip(t.get("intermediate") or [], t.get("intermediate_s") or []):
            r.append((at, v["default"] if isinstance(v, dict) else v))
        if t.get("final_default") is not None and t.get("final_s") is not None:
            r.append((t["final_s"], t["final_default"]))
    return sorted(r), slots, len(d["trials"])
marks = [m for m in (1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60) if m <= minutes]
print(f"{'search':<6} {'trials':>6}  {'seed level (91.4%) at':<28} " +
      " ".join(f"{m:>6g}m" for m in marks))
for name in names:
    r, slots, n = results(name)
    first = next((at for at, v in r if v >= seed_level), None)
    when = (f"{first / 60:.1f} wall min = {first / 60 * slots:.1f} CPU min"
            if first is not None else "never")
    row = []
    for m in marks:
        vals = [v for at, v in r if at <= m * 60]
        row.append(f"{max(vals):.4f}" if vals else "     -")
    print(f"{name:<6} {n:>6}  {when:<28} " + " ".join(f"{x:>7}" for x in row))
PY
