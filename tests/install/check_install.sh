#!/usr/bin/env bash
# nnilib as a user installs it: `cmake --install` into a fresh prefix, then, against that
# prefix alone, examples/cpp-trial built as a project of its own with find_package(nnilib
# COMPONENTS trial) and once with pkg-config, a program of the runner component, one of a
# LibTorch component (deploy_torch), the error for a component that does not exist, and both example trials run as NNI trials
# by the installed fmnist-nas.
#   bash tests/install/check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=${1:?usage: check_install.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: check_install.sh BUILD_DIR SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "check_install: $*" >&2; exit 1; }
# shellcheck source=tests/install/lib.sh
source "$(dirname "$0")/lib.sh"

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || fail "cmake --install failed"
for f in bin/fmnist-trial bin/fmnist-nas include/nnilib/trial/trial.h include/nnilib/common/error.h \
         include/nnilib/model/model.h lib/libnnilib_train_torch.a \
         lib/cmake/nnilib/nnilib-deploy_torch-targets.cmake \
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
cat >"$tmp/runner-user/main.cpp" <<'CPP'
#include <cstdio>
#include "nnilib/runner/experiment_config.h"
int main() { std::printf("%lld\n", static_cast<long long>(nnilib::parse_duration("1.5h"))); }
CPP
build_package_user "$tmp/runner-user" "$prefix" runner
[[ "$("$tmp/runner-user-build/runner-user")" == 5400 ]] || fail "the runner component's program gave a wrong answer"

# 3b. A LibTorch component, deploy_torch (Torch found by the package): a program exports a
# model.pt that the installed fmnist-trial trained, and the ONNX file is there.
params='{"epochs": 1, "filter_size_c1": 32, "filter_size_c2": 32}'
"$prefix/bin/fmnist-trial" --params "$params" --train-size 200 --val-size 100 --test-size 100 \
  --threads 2 --quiet --weights "$tmp/model.pt" --output "$tmp/summary.json" >/dev/null ||
  fail "the installed fmnist-trial did not train"
mkdir -p "$tmp/torch-user"
cat >"$tmp/torch-user/main.cpp" <<'CPP'
#include <cstdio>
#include "nnilib/deploy/onnx_model.h"
int main(int, char** argv) {
  const nnilib::TrialSpec spec = nnilib::trial_spec_from_parameters(nlohmann::json::parse(argv[1]));
  const nnilib::OnnxExportResult r = nnilib::export_onnx(spec, nnilib::DataOptions{}, argv[2], argv[3]);
  std::printf("%s %lld\n", r.architecture.c_str(), static_cast<long long>(r.bytes));
}
CPP
build_package_user "$tmp/torch-user" "$prefix" deploy_torch
out=$("$tmp/torch-user-build/torch-user" "$params" "$tmp/model.pt" "$tmp/model.onnx") ||
  fail "the deploy_torch program failed: $out"
grep -q '^conv32k3 relu > conv32k3 relu maxpool2 > fc100 relu > fc10 [0-9]' <<<"$out" ||
  fail "the deploy_torch program gave: $out"
[[ -s "$tmp/model.onnx" ]] || fail "the deploy_torch program wrote no ONNX file"

# 4. A component that does not exist: one line naming it and the ones there are.
sed -i 's/COMPONENTS runner/COMPONENTS runnr/' "$tmp/runner-user/CMakeLists.txt"
if cmake -S "$tmp/runner-user" -B "$tmp/runner-bad" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/bad.log" 2>&1; then
  fail "an unknown component was accepted"
fi
grep -q 'nnilib has no component "runnr"' "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "no clear error for an unknown component"; }

# 5. Both builds of the example as NNI trials under the installed fmnist-nas.
for trial in "$tmp/cmake-trial/cpp-trial-example" "$tmp/pc-trial"; do
  run_two_trials "$prefix/bin/fmnist-nas" "$trial" Random "$tmp"
done
echo "check_install: installed, found by find_package and pkg-config, the trials ran under the installed fmnist-nas"
