# What the install checks (check_install.sh, check_torch_free.sh) do alike; sourced by
# them, after they define fail().

# build_package_user DIR PREFIX "COMPONENTS" [CMAKE_ARGS...]: the C++ program DIR/main.cpp
# (the caller writes it) as a CMake project of its own named after DIR, that finds
# nnilib's COMPONENTS under PREFIX (find_package(nnilib 0.1 CONFIG REQUIRED COMPONENTS
# ...)) and links each; configured and built in DIR-build (the program:
# DIR-build/$(basename DIR)), its output in DIR.log, shown on a failure.
build_package_user() {
  local dir=$1 prefix=$2 components=$3
  shift 3
  local name links=""
  name=$(basename "$dir")
  for c in $components; do links+=" nnilib::$c"; done
  cat >"$dir/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.18)
project($name CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(nnilib 0.1 CONFIG REQUIRED COMPONENTS $components)
add_executable($name main.cpp)
target_link_libraries($name PRIVATE$links)
CMAKE
  cmake -S "$dir" -B "$dir-build" -DCMAKE_PREFIX_PATH="$prefix" "$@" >"$dir.log" 2>&1 ||
    { cat "$dir.log"; fail "find_package(nnilib COMPONENTS $components) failed"; }
  cmake --build "$dir-build" >>"$dir.log" 2>&1 ||
    { tail -30 "$dir.log"; fail "a program of the component(s) $components did not build"; }
}

# run_two_trials FMNIST_NAS TRIAL TUNER WORK_DIR: an experiment of two trials of the
# program TRIAL (NNI's local platform) under the installed FMNIST_NAS, in WORK_DIR/exp-*;
# both must succeed.
run_two_trials() {
  local nas=$1 trial=$2 tuner=$3 work=$4
  local exp
  exp=$work/exp-$(basename "$trial")
  cat >"$work/config.yml" <<YAML
searchSpace:
  x: {_type: uniform, _value: [0, 1]}
trialCommand: exec $trial
trialCodeDirectory: $work
trialConcurrency: 1
maxTrialNumber: 2
tuner:
  name: $tuner
trainingService:
  platform: local
YAML
  "$nas" run --config "$work/config.yml" --experiment-dir "$exp" --plain --no-final-train \
    >"$work/run.log" 2>&1 || { cat "$work/run.log"; fail "fmnist-nas failed with $trial"; }
  grep -q '2 trial(s), 2 SUCCEEDED' "$work/run.log" ||
    { cat "$work/run.log"; fail "$trial did not succeed twice"; }
}
