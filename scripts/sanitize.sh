#!/usr/bin/env bash
# ASan + UBSan build of nnilib::core and the torch-free tests in build-asan/, then
# runs them with ctest. No LibTorch is compiled or linked (CMake option
# NNILIB_SANITIZE, cmake/TorchFree.cmake); the torch tests are left out.
#   scripts/sanitize.sh [ctest args, e.g. -R test_space]
# Environment: CXX (default clang++), NNILIB_ASAN_OPT (default -O0), NNILIB_ASAN_DIR (default build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${NNILIB_ASAN_DIR:-build-asan}
start=$SECONDS

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  # clang -O0: 4x faster to compile than g++ -O1 with the sanitizers (cold: ~2 min), exact stacks.
  cmake -S . -B "$build_dir" -DNNILIB_SANITIZE=ON -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="${NNILIB_ASAN_OPT:--O0} -g"
fi
cmake --build "$build_dir" -j "$(nproc)"
echo "sanitize.sh: built in $((SECONDS - start)) s"

# halt_on_error: the first report fails the test; detect_leaks: LeakSanitizer too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Tests of targets that need LibTorch are registered but not built ("<target>_NOT_BUILT").
status=0
run_ctest() { ctest --test-dir "$build_dir" --output-on-failure --timeout 900 "$@" || status=$?; }
if (($#)); then
  run_ctest -j "$(nproc)" -E '_NOT_BUILT-' "$@"
else
  # The runner's tests of the final training's reserve are about elapsed time by nature
  # (trials of seconds against a limit of tens of seconds): they run one at a time after
  # the others, as in the main suite, so that an -O0 ASan runner beside another test on a
  # loaded machine does not miss their windows.
  timed='reserve'
  run_ctest -j "$(nproc)" -E "_NOT_BUILT-|$timed"
  run_ctest -R "$timed" -E '_NOT_BUILT-'
fi
echo "sanitize.sh: done in $((SECONDS - start)) s (ctest exit $status)"
exit "$status"
