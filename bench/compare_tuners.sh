#!/usr/bin/env bash
# Side-by-side tuner comparison on the default model space (docs/results.md):
# runs each bench/compare/*.yml one after another with the embedded runner, the same
# wall budget each, no final training, then plots the best validation accuracy against
# wall time for all of them (bench/plot_search.py).
#   bash bench/compare_tuners.sh OUT [DURATION] [TUNER ...]
#     OUT       where the experiments, their exports and the plot go
#     DURATION  each experiment's maxExperimentDuration (default 20m)
#     TUNER     names of bench/compare/*.yml to run (default: all five)
# The space is search_space.json with "epochs" fixed at 9, the largest budget of the
# multi-fidelity tuners, so TPE and Random trials train as long as their longest rung.
# Run it on a quiet machine: the tuners share nothing but the clock.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/compare_tuners.sh OUT [DURATION] [TUNER ...]}
duration=${2:-20m}
shift $(($# >= 2 ? 2 : $#))
tuners=("$@")
if ((${#tuners[@]} == 0)); then tuners=(tpe_medianstop random hyperband bohb asha); fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
/usr/bin/python3 - "$root/search_space.json" "$out/space.json" <<'PY'
import json, sys
space = json.load(open(sys.argv[1]), object_pairs_hook=dict)
space["epochs"] = {"_type": "choice", "_value": [9]}
json.dump(space, open(sys.argv[2], "w"), indent=1)
PY
for t in "${tuners[@]}"; do
  src="$root/bench/compare/$t.yml"
  [[ -f $src ]] || { echo "compare_tuners.sh: no bench/compare/$t.yml" >&2; exit 2; }
  [[ -e $out/$t ]] && { echo "compare_tuners.sh: $out/$t exists, skipped" >&2; continue; }
  sed -e "s|\.\./\.\./build/fmnist-trial|$root/build/fmnist-trial|" "$src" > "$out/$t.yml"
  echo "== $t: $duration from $(date -u +%FT%TZ)"
  "$root/build/fmnist-nas" run --config "$out/$t.yml" --experiment-dir "$out/$t" \
    --max-experiment-duration "$duration" --no-final-train --plain > "$out/$t.log" 2>&1 ||
    echo "compare_tuners.sh: $t ended with exit $?" >&2
  "$root/build/fmnist-nas" export "$out/$t" --format json -o "$out/$t.json"
  tail -n 3 "$out/$t.log"
done
/usr/bin/python3 "$root/bench/plot_search.py" --output "$out/search-curves.svg" \
  $(for t in tpe_medianstop random hyperband bohb asha; do
      [[ -f $out/$t.json ]] && echo "$out/$t.json"
    done)
