#!/usr/bin/env bash
# The test command: sets up, builds and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
build_dir=${NNILIB_BUILD_DIR:-build}
# Each test process trains with all cores; running them one at a time keeps that true.
# A test that cannot run on this machine is reported as skipped (exit code 77,
# tests/test_util.h NNILIB_SKIP), never as passed; its reason is listed after the run.
skipped="$build_dir/Testing/skipped.txt"
rm -f "$skipped"
status=0
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 || status=$?
if [[ -s $skipped ]]; then
  echo "skipped on this machine, and why:"
  sed 's/^/  /' "$skipped"
fi
[[ $status == 0 ]] || exit "$status"
# The torch-free tests again, built with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/, docs/reliability.md); skip with NNILIB_SKIP_SANITIZE=1.
if [[ ${NNILIB_SKIP_SANITIZE:-0} != 1 ]]; then
  bash scripts/sanitize.sh
fi
