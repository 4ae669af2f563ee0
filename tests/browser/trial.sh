#!/bin/bash
# A small NNI trial for the browser test: speaks NNI's v3 channel with curl, reports
# STEPS dict results (default, val_loss, train_loss) SLEEP seconds apart and a FINAL
# dict (default, test_accuracy, params, macs); writes progress.json like fmnist-trial.
url="$NNI_TRIAL_COMMAND_CHANNEL"
trap 'echo "got SIGINT"; exit 130' INT
put() { curl -s -f -X PUT -H 'Content-Type: application/json' --data-binary "$1" "$url" >/dev/null; }
put '{"type": "request_parameter"}' || exit 6
while :; do
  code=$(curl -s -o "$NNI_OUTPUT_DIR/param.json" -w '%{http_code}' "$url")
  [ "$code" = 200 ] && break
  [ "$code" = 410 ] && exit 0
  [ "$code" = 408 ] || exit 6
done
pid=$(grep -oE '\\"parameter_id\\": (\\"[^\\]*\\"|[0-9]+)' "$NNI_OUTPUT_DIR/param.json" | sed -E 's/^\\"parameter_id\\": //')
metric() {  # type sequence value
  put "{\"type\": \"metric\", \"metric\": \"{\\\"parameter_id\\\": $pid, \\\"trial_job_id\\\": \\\"$NNI_TRIAL_JOB_ID\\\", \\\"type\\\": \\\"$1\\\", \\\"sequence\\\": $2, \\\"value\\\": \\\"$3\\\"}\"}"
}
q='\\\"'  # a quote inside the metric's JSON string
steps=${STEPS:-5}
base=$((70 + (NNI_TRIAL_SEQ_ID * 7) % 20))
echo "trial $NNI_TRIAL_JOB_ID: $steps steps"
for ((i = 0; i < steps; i++)); do
  sleep "${SLEEP:-0}" & wait $!
  acc="0.$((base + i % 10))"
  printf '{"epoch": %d, "epochs": %d, "batch": 10, "batches": 20, "images_per_second": 300, "eta_seconds": 5, "time": %s}' \
    $((i + 1)) "$steps" "$(date +%s)" > "$NNI_OUTPUT_DIR/progress.json"
  metric PERIODICAL $i "{${q}default${q}: $acc, ${q}val_loss${q}: 0.$((50 - i % 40)), ${q}train_loss${q}: 0.$((60 - i % 40))}"
done
metric FINAL 0 "{${q}default${q}: $acc, ${q}test_accuracy${q}: $acc, ${q}params${q}: $((1000 + base)), ${q}macs${q}: $((5000 + base))}"
echo "done: $acc"
