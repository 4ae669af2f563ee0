#!/usr/bin/env bash
# Does watching a search slow it? Runs the same small experiment (two 1-thread trials
# of the seed CNN at once, the two cores busy as in the default experiment) with its
# dashboard polled by 0 and by BROWSERS simulated browsers (each asks for the
# experiment's snapshot and one trial's detail every 2 s, as an open overview page
# does), and prints the trials' training speed and fmnist-nas's own CPU time for each.
#   bash bench/dashboard_load.sh OUT [BROWSERS] [ROUNDS]
# ROUNDS repeats both (alternating) to see the noise. Run it on a quiet machine.
# $FMNIST_NAS / $FMNIST_TRIAL name other binaries (default: build/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/dashboard_load.sh OUT [BROWSERS] [ROUNDS]}
browsers=${2:-20}
rounds=${3:-1}
nas=${FMNIST_NAS:-$root/build/fmnist-nas}
trial=${FMNIST_TRIAL:-$root/build/fmnist-trial}
mkdir -p "$out"
cat > "$out/space.json" <<'JSON'
{"batch_size": {"_type": "choice", "_value": [128]}}
JSON
cat > "$out/config.yml" <<YML
experimentName: dashboard-load
searchSpaceFile: space.json
trialCommand: exec $trial --threads 1 --train-size 20000 --params '{"epochs": 3}' --quiet
trialCodeDirectory: .
trialConcurrency: 2
maxTrialNumber: 2
tuner: {name: Random, classArgs: {optimize_mode: maximize}}
trainingService: {platform: local}
YML

one() {  # name polls
  local dir="$out/$1" n=$2
  rm -rf "$dir"
  "$nas" run --config "$out/config.yml" --experiment-dir "$dir" --plain --port 0 \
    --no-final-train > "$out/$1.log" 2>&1 &
  local runner=$!
  local url=""
  for _ in $(seq 200); do
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/' "$out/$1.log" || true)
    [ -n "$url" ] && break
    sleep 0.05
  done
  local id
  id=$(curl -s "${url}api/experiments" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["experiments"][0]["id"])')
  local pollers=()
  for ((b = 0; b < n; b++)); do
    (
      while :; do
        snap=$(curl -s "${url}api/experiments/$id") || exit 0
        t=$(grep -oE '"id":"[A-Za-z0-9]{5}"' <<<"$snap" | head -1 | cut -d'"' -f4)
        [ -n "$t" ] && curl -s "${url}api/experiments/$id/trials/$t" > /dev/null
        sleep 2
      done
    ) &
    pollers+=($!)
  done
  # fmnist-nas's CPU time (user + system, clock ticks) just before it exits.
  local ticks=0
  while kill -0 "$runner" 2>/dev/null; do
    ticks=$(awk '{print $14 + $15}' "/proc/$runner/stat" 2>/dev/null || echo "$ticks")
    sleep 0.5
  done
  wait "$runner" || true
  for p in "${pollers[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  /usr/bin/python3 - "$dir" "$n" "$ticks" <<'PY'
import glob, json, os, statistics, sys
d, n, ticks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
speeds = []
for f in sorted(glob.glob(os.path.join(d, 'trials', '*', 'summary.json'))):
    s = json.load(open(f))
    speeds.append(statistics.mean(e['images_per_second'] for e in s['curve']))
hz = os.sysconf('SC_CLK_TCK')
print(f"{n:>8} {len(speeds):>6} {statistics.mean(speeds):>10.0f} {ticks / hz:>12.2f}")
PY
}

echo "browsers trials  images/s  fmnist-nas CPU s" | tee "$out/table.txt"
for ((r = 1; r <= rounds; r++)); do
  one "quiet$r" 0 | tee -a "$out/table.txt"
  one "watched$r" "$browsers" | tee -a "$out/table.txt"
done
