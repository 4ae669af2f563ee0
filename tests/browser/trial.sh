#!/bin/bash
# A small NNI trial for the browser test: speaks NNI's v3 channel with curl, reports
# STEPS dict results (default, val_loss, train_loss) SLEEP seconds apart and a FINAL
# dict (default, test_accuracy, params, macs); writes progress.json like fmnist-trial.
source "$(dirname "$0")/curl_trial.sh"
trap 'echo "got SIGINT"; exit 130' INT
receive_parameters
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
