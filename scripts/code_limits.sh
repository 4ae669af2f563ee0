#!/usr/bin/env bash
# The code's size limits: no class or struct over 300 lines and no function over 100 in
# nnilib/src and the two executables, measured with Universal Ctags (Debian's
# universal-ctags: each tag's first and last line). Prints each one over its limit and
# exits 1 when there is any (the test code_limits/within_limits runs it).
#   bash scripts/code_limits.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ctags >/dev/null || { echo "code_limits.sh: install Debian's universal-ctags" >&2; exit 2; }
over=$(ctags --languages=C++ --fields=+neK --c++-kinds=fcs -R -f - nnilib/src trial nas |
  awk -F'\t' '{
    line = ""; end = ""; kind = ""
    for (i = 4; i <= NF; i++) {
      if ($i ~ /^line:/) line = substr($i, 6)
      if ($i ~ /^end:/) end = substr($i, 5)
      if ($i == "function" || $i == "class" || $i == "struct") kind = $i
    }
    if (line == "" || end == "") next
    n = end - line + 1
    if ((kind == "function" && n > 100) || ((kind == "class" || kind == "struct") && n > 300))
      printf "%-8s %5d lines  %s  %s:%s\n", kind, n, $1, $2, line
  }' | sort -k2 -rn)
if [[ -n "$over" ]]; then
  echo "$over"
  echo "code_limits.sh: $(wc -l <<<"$over") over the limits (classes 300 lines, functions 100)" >&2
  exit 1
fi
echo "code_limits.sh: no class over 300 lines, no function over 100 (nnilib/src, trial, nas)"
