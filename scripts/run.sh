#!/usr/bin/env bash
# The main command: sets up, builds and trains the default architecture on the
# real Fashion-MNIST (10 epochs), printing one line per epoch and a JSON summary.
#   scripts/run.sh [fmnist-trial options, e.g. --params '{"nb_units": 120}']
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh --target fmnist-trial
mkdir -p out
exec ./build/fmnist-trial --output-dir out "$@"
