#!/usr/bin/env bash
# Configures and builds into build/ (Release, ccache when installed).
#   scripts/build.sh [cmake --build args, e.g. --target fmnist-trial]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${NNILIB_BUILD_DIR:-build}
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build_dir" -j "$(nproc)" "$@"
