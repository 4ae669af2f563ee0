#!/usr/bin/env bash
# The build without LibTorch (-DNNILIB_WITH_TORCH=OFF) where LibTorch cannot be found
# (CMAKE_DISABLE_FIND_PACKAGE_Torch: looking for it would fail the configure): the
# torch-free libraries, fmnist-nas and the example trial build and install, fmnist-trial
# is left out, the installed fmnist-nas links nothing of LibTorch and runs an experiment
# of the example trial, and the installed package serves find_package(nnilib COMPONENTS
# tuner deploy).
#   bash tests/install/check_torch_free.sh BUILD_DIR SOURCE_DIR
# The build goes to BUILD_DIR/torch-free (a fixed path, so that ccache serves a rerun).
set -euo pipefail
build=${1:?usage: check_torch_free.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: check_torch_free.sh BUILD_DIR SOURCE_DIR}
tf=$(cd "$build" && pwd)/torch-free
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "check_torch_free: $*" >&2; exit 1; }
# shellcheck source=tests/install/lib.sh
source "$(dirname "$0")/lib.sh"

cmake -S "$src" -B "$tf" -DNNILIB_WITH_TORCH=OFF -DCMAKE_DISABLE_FIND_PACKAGE_Torch=TRUE \
  -DNNILIB_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "the configure without LibTorch failed"; }
grep -q 'needs LibTorch, not built: .*fmnist-trial' "$tmp/configure.log" ||
  { cat "$tmp/configure.log"; fail "the configure did not say what it leaves out"; }
cmake --build "$tf" -j "$(nproc)" >"$tmp/build.log" 2>&1 ||
  { tail -30 "$tmp/build.log"; fail "the build without LibTorch failed"; }
cmake --install "$tf" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "cmake --install of the build without LibTorch failed"; }

for f in bin/fmnist-nas lib/libnnilib_runner.a lib/libnnilib_tuner.a lib/libnnilib_deploy.a \
         include/nnilib/deploy/onnx_export.h lib/cmake/nnilib/nnilibConfig.cmake; do
  [[ -e "$prefix/$f" ]] || fail "not installed: $f"
done
for f in bin/fmnist-trial include/nnilib/train/trainer.h include/nnilib/model/model.h; do
  [[ ! -e "$prefix/$f" ]] || fail "installed without LibTorch: $f"
done
if ldd "$prefix/bin/fmnist-nas" | grep -E 'lib(torch|c10)'; then
  fail "fmnist-nas links LibTorch"
fi

# The installed fmnist-nas runs an experiment of the example trial (built in this build).
trial=$(find "$tf" -name cpp-trial-example -type f -perm -u+x | head -1)
[[ -n "$trial" ]] || fail "the example trial was not built"
run_two_trials "$prefix/bin/fmnist-nas" "$trial" TPE "$tmp"

# The installed package: the tuners and the ONNX writer, without LibTorch.
mkdir -p "$tmp/user"
cat >"$tmp/user/main.cpp" <<'CPP'
#include <cstdio>
#include "nnilib/deploy/onnx_export.h"
#include "nnilib/tuner/tuner_registry.h"
int main() {
  std::printf("%d %d\n", nnilib::find_tuner("TPE") != nullptr, nnilib::kOnnxOpset);
}
CPP
build_package_user "$tmp/user" "$prefix" "tuner deploy" -DCMAKE_DISABLE_FIND_PACKAGE_Torch=TRUE
[[ "$("$tmp/user-build/user")" == "1 17" ]] || fail "the user program gave a wrong answer"
echo "check_torch_free: built, installed and ran without LibTorch (fmnist-nas, tuners, ONNX writer)"
