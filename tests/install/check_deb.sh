#!/usr/bin/env bash
# The Debian package as `cpack -G DEB` makes it from the build: its dependencies are
# Debian's packages (dpkg-shlibdeps), it holds the programs, the public headers only, the
# CMake package and the pkg-config file under /usr; unpacked, the example trial builds
# against it and its programs run.
#   bash tests/install/check_deb.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=${1:?usage: check_deb.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: check_deb.sh BUILD_DIR SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_deb: $*" >&2; exit 1; }

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; fail "cpack -G DEB failed"; }
deb=$(ls "$tmp"/out/nnilib_*_amd64.deb 2>/dev/null | head -1)
[[ -n "$deb" ]] || fail "no nnilib_*_amd64.deb was made"
depends=$(dpkg-deb -f "$deb" Depends)
for p in libtorch1.13 libcpp-httplib libyaml-cpp libsqlite3-0 zlib1g; do
  grep -q "$p" <<<"$depends" || fail "Depends lacks $p: $depends"
done
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/fmnist-trial ./usr/bin/fmnist-nas ./usr/include/nnilib/trial/trial.h \
         ./usr/lib/cmake/nnilib/nnilibConfig.cmake ./usr/lib/pkgconfig/nnilib-trial.pc \
         ./usr/lib/libnnilib_trial.a ./usr/share/doc/nnilib/README.md; do
  grep -qx -- "$f" <<<"$contents" || fail "the package lacks $f"
done
if grep -E 'channel_server\.h|io_util\.h|/src/' <<<"$contents"; then
  fail "the package holds private sources or headers"
fi

# Unpacked: the example builds against /usr of the package, and the programs run.
dpkg-deb -x "$deb" "$tmp/root"
cmake -S "$src/examples/cpp-trial" -B "$tmp/trial" -DCMAKE_PREFIX_PATH="$tmp/root/usr" \
  >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "find_package against the package failed"; }
cmake --build "$tmp/trial" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "the example did not build"; }
out=$("$tmp/trial/cpp-trial-example" '{"x": 0.3}' 2>/dev/null) || fail "the example failed"
grep -q 'final result 0.980000' <<<"$out" || fail "the example gave: $out"
out=$("$tmp/root/usr/bin/fmnist-trial" --dry-run 2>&1) || fail "the packaged fmnist-trial failed: $out"
grep -q 'multiply-accumulates' <<<"$out" || fail "the packaged fmnist-trial gave: $out"
"$tmp/root/usr/bin/fmnist-nas" --help >/dev/null || fail "the packaged fmnist-nas does not run"
echo "check_deb: $(basename "$deb"): Depends $depends"
