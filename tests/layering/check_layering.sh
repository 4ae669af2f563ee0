#!/usr/bin/env bash
# Builds each layering probe (tests/layering/CMakeLists.txt): a forbidden include must
# fail with its header not found, an allowed one must compile. Also: no source reaches
# around the include roots with a relative "../" include.
#   check_layering.sh BUILD_DIR CASES_FILE SOURCE_DIR
set -uo pipefail
build=$1 cases=$2 source=$3
failures=0
while IFS=: read -r verdict module header target; do
  [[ -n $verdict ]] || continue
  out=$(cmake --build "$build" --target "$target" 2>&1)
  rc=$?
  # A forbidden probe must fail because its header is not found: gcc says "H: No such
  # file", clang (the sanitizer build) "'H' file not found".
  if [[ $verdict == forbidden ]]; then
    if ((rc == 0)); then
      echo "FAIL: module $module can include $header (its layer forbids it)"
      failures=$((failures + 1))
    elif ! grep -qF -e "$header: No such file" -e "'$header' file not found" <<<"$out"; then
      echo "FAIL: probe $module -> $header failed for another reason:"
      tail -5 <<<"$out"
      failures=$((failures + 1))
    else
      echo "ok: $module cannot see $header"
    fi
  else
    if ((rc != 0)); then
      echo "FAIL: module $module cannot include $header, which it may:"
      tail -5 <<<"$out"
      failures=$((failures + 1))
    else
      echo "ok: $module sees $header"
    fi
  fi
done <"$cases"
relative=$(grep -rnE '#include "\.\./' "$source"/nnilib "$source"/trial "$source"/nas \
  "$source"/tests "$source"/bench "$source"/examples "$source"/fuzz 2>/dev/null)
if [[ -n $relative ]]; then
  echo "FAIL: relative includes reach around the include roots:"
  echo "$relative"
  failures=$((failures + 1))
fi
echo "$failures failure(s)"
((failures == 0))
