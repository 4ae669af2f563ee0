#!/usr/bin/env bash
# Issue 20's size limits, reported (not enforced yet): classes and structs over 300 lines
# and functions over 100 lines in nnilib/src and the two executables, measured with
# Universal Ctags (Debian's universal-ctags: each tag's first and last line).
#   bash scripts/code_limits.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ctags >/dev/null || { echo "code_limits.sh: install Debian's universal-ctags" >&2; exit 2; }
ctags --languages=C++ --fields=+neK --c++-kinds=fcs -R -f - nnilib/src trial nas |
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
  }' | sort -k2 -rn
