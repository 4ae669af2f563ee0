#!/usr/bin/env bash
# Installs what the project needs from Debian 12's packages. Idempotent: only
# missing packages are installed (apt-get update runs only when one is missing).
#   scripts/setup.sh           build, test and run dependencies
#   scripts/setup.sh --bench   also python3-torch and python3-matplotlib, for bench/
set -euo pipefail

packages=(
  g++ make cmake ccache            # toolchain; ccache caches the heavy LibTorch compiles
  libtorch-dev                     # LibTorch 1.13 (CPU): tensors, autograd, nn, optim
  libopenblas0-openmp              # optimized BLAS: LibTorch's Linear layers are ~30x faster than on the reference BLAS
  nlohmann-json3-dev               # JSON: parameters, NNI messages, summaries
  libcpp-httplib-dev               # HTTP client/server: NNI's v3 trial channel and its test stand-in
  libcli11-dev                     # command-line parsing
  libyaml-cpp-dev                  # YAML: NNI's experiment config.yml, read by the embedded runner
  zlib1g-dev                       # reading the gzipped IDX files
  libsqlite3-dev                   # SQLite: the embedded runner's experiment database
  libjs-chart.js                   # Chart.js: the dashboard's charts, embedded in fmnist-nas at build time
  curl                             # the runner tests' bash trials talk to it as non-C++ NNI trials do
  catch2                           # unit tests (Catch2 v2)
  chromium chromium-driver python3-selenium  # the dashboard's real-browser test (tests/browser)
  fonts-liberation                 # legible text in that test's screenshots
  clang libclang-rt-14-dev         # the ASan+UBSan test suite and the libFuzzer targets (scripts/sanitize.sh, fuzz.sh)
  dataset-fashion-mnist            # the real data set, /usr/share/datasets/fashion-mnist
  universal-ctags                  # the code size limits test (scripts/code_limits.sh)
  pkg-config                       # the install test builds the example trial with pkg-config
  dpkg-dev                         # dpkg-shlibdeps: the Debian package's dependencies (cpack -G DEB)
  libonnx-dev libprotobuf-dev      # ONNX: nnilib::deploy writes and checks the exported models
)
# Node.js runs ONNX Runtime (onnxruntime-node, from npm) for the ONNX checks; any
# installed node will do.
if ! command -v node >/dev/null; then packages+=(nodejs); fi
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-torch)        # the PyTorch peer of bench/, same LibTorch underneath
  packages+=(python3-matplotlib)   # bench/plot_search.py: search curves for docs/
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# LibTorch links the system libblas.so.3; make sure it resolves to OpenBLAS, not the
# reference BLAS (the alternative may have been pinned by hand).
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for lib in libblas.so.3 liblapack.so.3; do
  alt="$lib-$arch"
  target="/usr/lib/$arch/openblas-openmp/$lib"
  current=$(readlink -f "/usr/lib/$arch/$lib" || true)
  if [[ -e "$target" && "$current" != *openblas* ]]; then
    echo "setup: switching $lib to OpenBLAS"
    "${sudo_cmd[@]}" update-alternatives --set "$alt" "$target"
  fi
done
# ONNX Runtime, the independent runtime that checks the exported ONNX models
# (tests/test_deploy.cpp, scripts/run.sh): onnxruntime-node's CPU binary, the version
# pinned by scripts/onnxruntime/package-lock.json. --ignore-scripts: its install script
# would download CUDA binaries. Without it the ONNX checks say they were skipped.
ort_dir="$(dirname "$0")/onnxruntime"
if [[ ! -f "$ort_dir/node_modules/onnxruntime-node/package.json" ]]; then
  if ! command -v npm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends npm
  fi
  echo "setup: installing ONNX Runtime (onnxruntime-node) in $ort_dir"
  if ! (cd "$ort_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); then
    echo "setup: warning: ONNX Runtime could not be installed from npm; the ONNX checks will be skipped" >&2
  fi
fi
echo "setup: all dependencies present"
