#!/usr/bin/env bash
# Does watching a search slow it? Runs the same small experiment (two 1-thread trials
# of the seed CNN at once, batch 128 and 256, the two cores busy as in the default
# experiment) with its
# dashboard polled by 0 and by BROWSERS simulated browsers (each asks for the
# experiment's snapshot and one trial's detail every 2 s on a kept-alive connection, as
# an open overview page does; all of them one Python process, so that the clients,
# which would run on the user's own computer, cost this machine little), and prints the
# trials' training speed and fmnist-nas's own CPU time (the server is in it) for each.
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
{"batch_size": {"_type": "choice", "_value": [128, 256]}, "epochs": {"_type": "choice", "_value": [3]}}
JSON
cat > "$out/config.yml" <<YML
experimentName: dashboard-load
searchSpaceFile: space.json
trialCommand: exec $trial --threads 1 --train-size 20000 --quiet
trialCodeDirectory: .
trialConcurrency: 2
maxTrialNumber: 2
tuner: {name: GridSearch}
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
  # The browsers: one process (so the clients cost little), a kept-alive connection
  # each, as a browser keeps one.
  local pollers=()
  if ((n > 0)); then
    /usr/bin/python3 - "$url" "$id" "$n" <<'PY' &
import http.client, json, sys, threading, time, urllib.parse
url, exp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlsplit(url)
def browser():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    while True:
        try:
            c.request('GET', '/api/experiments/' + exp)
            snap = json.loads(c.getresponse().read())
            if snap['trials']:
                c.request('GET', '/api/experiments/%s/trials/%s' % (exp, snap['trials'][0]['id']))
                c.getresponse().read()
        except Exception:
            return  # the run ended
        time.sleep(2)
threads = [threading.Thread(target=browser, daemon=True) for _ in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
PY
    pollers+=($!)
  fi
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
