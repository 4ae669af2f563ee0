#!/usr/bin/env bash
# The test command under load: one busy process per core, in a session of its own (so the
# kernel's autogroup shares the CPU between it and the tests: the tests get about half),
# while `bash scripts/test.sh` runs ROUNDS times in a row. Proves that no test depends on
# a quiet machine (docs/reliability.md "Tests on a loaded machine"). Prints each round's
# outcome and time; exits with the first failing round's status.
#   bash scripts/test_under_load.sh [ROUNDS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cores=$(nproc)
pids=()
stop_load() { ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap stop_load EXIT
for ((c = 0; c < cores; c++)); do
  setsid bash -c 'while :; do :; done' &
  pids+=($!)
done
echo "test_under_load.sh: $cores busy processes (pids ${pids[*]}), $rounds rounds"
status=0
for ((r = 1; r <= rounds; r++)); do
  start=$SECONDS
  rc=0
  mkdir -p build/Testing
  bash scripts/test.sh > "build/Testing/under-load-$r.log" 2>&1 || rc=$?
  summary=$(grep -E 'tests passed|tests failed' "build/Testing/under-load-$r.log" | tail -1)
  echo "round $r: exit $rc in $((SECONDS - start)) s: ${summary:-no ctest summary} (build/Testing/under-load-$r.log)"
  if ((rc != 0 && status == 0)); then status=$rc; fi
done
exit "$status"
