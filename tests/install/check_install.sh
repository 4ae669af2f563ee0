#!/usr/bin/env bash
# nnilib as a user installs it: `cmake --install` into a fresh prefix, then, against that
# prefix alone, examples/cpp-trial built as a project of its own with find_package(nnilib
# COMPONENTS trial) and once with pkg-config, a program of the runner component, the
# error for a component that does not exist, and both example trials run as NNI trials
# by the installed fmnist-nas.
#   bash tests/install/check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=${1:?usage: check_install.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: check_install.sh BUILD_DIR SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "check_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || fail "cmake --install failed"
for f in bin/fmnist-trial bin/fmnist-nas include/nnilib/trial/trial.h include/nnilib/common/error.h \
         lib/cmake/nnilib/nnilibConfig.cmake lib/cmake/nnilib/nnilib-trial-targets.cmake \
         lib/pkgconfig/nnilib-trial.pc share/doc/nnilib/README.md; do
  [[ -e "$prefix/$f" ]] || fail "not installed: $f"
done
# Public headers only: none of a module's private ones.
for f in include/nnilib/trial/io_util.h include/nnilib/runner/channel_server.h \
         include/runner/channel_server.h; do
  [[ ! -e "$prefix/$f" ]] || fail "a private header was installed: $f"
done

# 1. find_package(nnilib 0.1 CONFIG REQUIRED COMPONENTS trial), as a project of its own.
cmake -S "$src/examples/cpp-trial" -B "$tmp/cmake-trial" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "find_package failed"; }
cmake --build "$tmp/cmake-trial" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "the example did not build"; }
# The trial SDK alone: nothing of SQLite, YAML or LibTorch.
if ldd "$tmp/cmake-trial/cpp-trial-example" | grep -E 'lib(sqlite3|yaml-cpp|torch|c10)[.-]'; then
  fail "the example links more than the trial SDK"
fi

# 2. pkg-config --cflags --libs nnilib-trial.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
g++ -std=c++17 "$src/examples/cpp-trial/main.cpp" -o "$tmp/pc-trial" \
  $(pkg-config --cflags --libs nnilib-trial) || fail "the example did not build with pkg-config"

# 3. Another component: the runner's config reader (yaml-cpp, SQLite found by the package).
mkdir -p "$tmp/runner-user"
cat >"$tmp/runner-user/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(runner-user CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(nnilib 0.1 CONFIG REQUIRED COMPONENTS runner)
add_executable(runner-user main.cpp)
target_link_libraries(runner-user PRIVATE nnilib::runner)
CMAKE
cat >"$tmp/runner-user/main.cpp" <<'CPP'
#include <cstdio>
#include "nnilib/runner/experiment_config.h"
int main() { std::printf("%lld\n", static_cast<long long>(nnilib::parse_duration("1.5h"))); }
CPP
cmake -S "$tmp/runner-user" -B "$tmp/runner-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1 ||
  fail "find_package(nnilib COMPONENTS runner) failed"
cmake --build "$tmp/runner-build" >/dev/null 2>&1 || fail "a program of the runner component did not build"
[[ "$("$tmp/runner-build/runner-user")" == 5400 ]] || fail "the runner component's program gave a wrong answer"

# 4. A component that does not exist: one line naming it and the ones there are.
sed -i 's/COMPONENTS runner/COMPONENTS runnr/' "$tmp/runner-user/CMakeLists.txt"
if cmake -S "$tmp/runner-user" -B "$tmp/runner-bad" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/bad.log" 2>&1; then
  fail "an unknown component was accepted"
fi
grep -q 'nnilib has no component "runnr"' "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "no clear error for an unknown component"; }

# 5. Both builds of the example as NNI trials under the installed fmnist-nas.
for trial in "$tmp/cmake-trial/cpp-trial-example" "$tmp/pc-trial"; do
  exp=$tmp/exp-$(basename "$trial")
  cat >"$tmp/config.yml" <<YAML
searchSpace:
  x: {_type: uniform, _value: [0, 1]}
trialCommand: exec $trial
trialCodeDirectory: $tmp
trialConcurrency: 1
maxTrialNumber: 2
tuner:
  name: Random
trainingService:
  platform: local
YAML
  "$prefix/bin/fmnist-nas" run --config "$tmp/config.yml" --experiment-dir "$exp" --plain \
    --no-final-train >"$tmp/run.log" 2>&1 || { cat "$tmp/run.log"; fail "fmnist-nas failed with $trial"; }
  grep -q '2 trial(s), 2 SUCCEEDED' "$tmp/run.log" || { cat "$tmp/run.log"; fail "$trial did not succeed twice"; }
done
echo "check_install: installed, found by find_package and pkg-config, the trials ran under the installed fmnist-nas"
