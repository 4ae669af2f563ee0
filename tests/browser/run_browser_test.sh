#!/bin/bash
# The dashboard in a real browser (ctest: browser/dashboard): makes a finished and a
# running experiment with bash+curl trials (trial.sh), serves both with
# `fmnist-nas serve`, writes a report, and runs dashboard_browser_test.py (headless
# Chromium through selenium) over them. The finished one ends with a real final
# training (fmnist-trial on a subset of DATA_DIR). Screenshots go to SCREENSHOTS.
#   run_browser_test.sh FMNIST_NAS SCREENSHOTS FMNIST_TRIAL DATA_DIR
set -euo pipefail
nas=$1
shots=$2
trial=$3
data=$4
here=$(cd "$(dirname "$0")" && pwd)
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$tool" ] || { echo "missing $tool: bash scripts/setup.sh installs it" >&2; exit 1; }
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
  { echo "missing python3-selenium: bash scripts/setup.sh installs it" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cp "$work"/*.log "$shots/" 2>/dev/null || true  # the runs' output, to look at after a failure
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$shots"
cp "$here/trial.sh" "$here/../curl_trial.sh" "$work/"
config() {  # name trials concurrency env
  cat > "$work/$1.yml" <<YML
experimentName: browser-$1
searchSpace:
  learning_rate: {_type: loguniform, _value: [0.001, 0.005]}
  batch_size: {_type: choice, _value: [32, 64, 128]}
  conv1: {_type: choice, _value: [{_name: plain, kernel: {_type: choice, _value: [3, 5]}}, {_name: residual}]}
  augment_flip: {_type: choice, _value: [true]}
trialCommand: $4 exec ./trial.sh
trialCodeDirectory: .
trialConcurrency: $3
maxTrialNumber: $2
maxExperimentDuration: 10m
tuner: {name: Random, classArgs: {optimize_mode: maximize}}
trainingService: {platform: local}
YML
}
config finished 6 2 "STEPS=5"
config running 40 2 "STEPS=200 SLEEP=0.3"
"$nas" run --config "$work/finished.yml" --experiment-dir "$work/finished" --id fin00001 \
  --plain --no-dashboard --final-train --final-epochs 2 --trial-binary "$trial" \
  --final-arg=--data-dir="$data" --final-arg=--train-size=512 --final-arg=--test-size=256 \
  > "$work/finished.log" 2>&1
"$nas" run --config "$work/running.yml" --experiment-dir "$work/running" --id run00001 \
  --plain --no-dashboard --kill-grace-ms 200 > "$work/running.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -f "$work/running/experiment.db" ] && break; sleep 0.1; done
"$nas" serve "$work/finished" "$work/running" --port 0 > "$work/serve.log" 2>&1 &
pids+=($!)
url=""
for _ in $(seq 100); do
  url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/' "$work/serve.log" 2>/dev/null || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "serve printed no address:"; cat "$work/serve.log"; exit 1; }
# The running experiment's trials have results before the browser looks.
for _ in $(seq 150); do
  curl -s "${url}api/experiments/run00001" | grep -q '"epochs":[2-9]' && break
  sleep 0.2
done
"$nas" report "$work/finished" "$work/running" --html "$shots/report.html" > /dev/null
# A run with its own dashboard (control on): the browser uses its buttons.
config control 10 2 "STEPS=400 SLEEP=0.2"
"$nas" run --config "$work/control.yml" --experiment-dir "$work/control" --id ctl00001 \
  --plain --port 0 --kill-grace-ms 200 > "$work/control.log" 2>&1 &
pids+=($!)
control_url=""
for _ in $(seq 100); do
  control_url=$(grep -oE 'dashboard: http://127\.0\.0\.1:[0-9]+/\?control=[0-9a-f]+' "$work/control.log" | cut -d' ' -f2 || true)
  [ -n "$control_url" ] && break
  sleep 0.1
done
[ -n "$control_url" ] || { echo "the run printed no dashboard:"; cat "$work/control.log"; exit 1; }
/usr/bin/python3 "$here/dashboard_browser_test.py" --url "$url" \
  --finished fin00001 --running run00001 --screenshots "$shots" --report "$shots/report.html" \
  --control-url "$control_url" --control ctl00001
