#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ in build-fuzz/ (clang++, nnilib::core
# instrumented with ASan + UBSan, no LibTorch) and runs each one.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 600 s each, every target
# Each target works on build-fuzz/corpus/<target> (seeded from fuzz/corpus/<target>,
# kept between runs; the repository's corpus is never written). A finding (crash,
# sanitizer report, uncaught exception, >10 s per input, >2 GB) is saved under
# build-fuzz/findings/<target>/; reproduce it with build-fuzz/fuzz/<target> <file>.
# Exits 1 when any target found something. A target stops at its first finding;
# NNILIB_FUZZ_KEEP_GOING=1 runs it in libFuzzer's fork mode instead, which saves
# every finding and goes on (to look past a known bug). Environment also:
# NNILIB_FUZZ_DIR (default build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_space fuzz_params fuzz_config fuzz_metric fuzz_idx)
build_dir=${NNILIB_FUZZ_DIR:-build-fuzz}

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" -DNNILIB_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g"
fi
start=$SECONDS
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"
echo "fuzz.sh: built in $((SECONDS - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The first line that says what was found.
report="ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [^ ]+( [^ ]+)?|runtime error: .*"
report+="|terminate called after throwing an instance of '[^']+'|uncaught exception of type [^ ]+"
found=0
summary=()
for target in "${targets[@]}"; do
  corpus=$build_dir/corpus/$target
  findings=$build_dir/findings/$target
  log=$build_dir/logs/$target.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  cp -n fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10
        -print_final_stats=1 -artifact_prefix="$findings/")
  [[ -f fuzz/dict/$target.dict ]] && args+=(-dict="fuzz/dict/$target.dict")
  [[ ${NNILIB_FUZZ_KEEP_GOING:-0} == 1 ]] &&
    args+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  echo "fuzz.sh: $target for $seconds s (log $log)"
  touch "$findings/.start"
  rc=0
  "$build_dir/fuzz/$target" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [[ -z $execs ]]; then  # a finding ends the run before the final stats
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  size=$(find "$corpus" -type f | wc -l)
  new=$(find "$findings" -type f -newer "$findings/.start" \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if [[ $rc -eq 0 && -z $new ]]; then
    result=clean
  else
    found=1
    kind=$(grep -m1 -oE "$report" "$log" || true)
    count=$(printf '%s' "$new" | grep -c . || true)
    result="FOUND ${kind:-exit $rc}: ${new%%$'\n'*}"
    [[ $count -gt 1 ]] && result+=" (+$((count - 1)) more in $findings)"
    [[ -z $new ]] && result+="no reproducer written, see $log"
  fi
  line=$(printf '%-12s executions %-10s corpus %-6s %s' "$target" "${execs:-?}" "$size" "$result")
  echo "$line"
  summary+=("$line")
done
echo
echo "fuzz.sh: ${seconds} s per target, done in $((SECONDS - start)) s"
printf '%s\n' "${summary[@]}"
exit "$found"
