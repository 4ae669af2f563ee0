# NNI's v3 trial channel with curl only, as a non-C++ NNI trial speaks it: sourced by the
# tests' bash trials (test_runner, test_dashboard, browser/trial.sh).
#   put JSON               PUTs a command (Content-Type application/json); curl's status
#   receive_parameters     request_parameter, then long polls until the record comes (into
#                          $NNI_OUTPUT_DIR/param.json) and sets $pid to its parameter id;
#                          exits 0 once the channel is closed (410), 6 on any other answer
#   metric TYPE SEQ VALUE  reports a metric; VALUE is its value's JSON, escaped for the
#                          two JSON strings it goes in
url="$NNI_TRIAL_COMMAND_CHANNEL"
put() { curl -s -f -X PUT -H 'Content-Type: application/json' --data-binary "$1" "$url" >/dev/null; }
receive_parameters() {
  put '{"type": "request_parameter"}' || exit 6
  while :; do
    code=$(curl -s -o "$NNI_OUTPUT_DIR/param.json" -w '%{http_code}' "$url")
    [ "$code" = 200 ] && break
    [ "$code" = 410 ] && exit 0
    [ "$code" = 408 ] || exit 6
  done
  pid=$(grep -oE '\\"parameter_id\\": (\\"[^\\]*\\"|[0-9]+)' "$NNI_OUTPUT_DIR/param.json" | sed -E 's/^\\"parameter_id\\": //')
}
metric() {  # type sequence value
  put "{\"type\": \"metric\", \"metric\": \"{\\\"parameter_id\\\": $pid, \\\"trial_job_id\\\": \\\"$NNI_TRIAL_JOB_ID\\\", \\\"type\\\": \\\"$1\\\", \\\"sequence\\\": $2, \\\"value\\\": \\\"$3\\\"}\"}"
}
