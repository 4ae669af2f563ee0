#!/usr/bin/env bash
# The test command: sets up, builds and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
build_dir=${NNILIB_BUILD_DIR:-build}
# Each test process trains with all cores; running them one at a time keeps that true.
ctest --test-dir "$build_dir" --output-on-failure --timeout 900
# The torch-free tests again, built with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/, docs/reliability.md); skip with NNILIB_SKIP_SANITIZE=1.
if [[ ${NNILIB_SKIP_SANITIZE:-0} != 1 ]]; then
  bash scripts/sanitize.sh
fi
