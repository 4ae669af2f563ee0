# The four benchmark architectures of bench/run.sh and bench/precision_auto.sh, in one
# place; sourced. write_benchmark_archs DIR writes DIR/<name>.in (fmnist-trial parameters)
# for each name of benchmark_archs, run from the repository's root.
benchmark_archs=(smallest largest residual-93 worst-case)
write_benchmark_archs() {
  local dir=$1
  echo '{"filter_size_c1": 32, "kernel_size_c1": 3, "filter_size_c2": 64, "kernel_size_c2": 3, "nb_units": 80}' > "$dir/smallest.in"
  echo '{"filter_size_c1": 128, "kernel_size_c1": 5, "filter_size_c2": 128, "kernel_size_c2": 5, "nb_units": 120}' > "$dir/largest.in"
  cp examples/residual-93.json "$dir/residual-93.in"
  cp bench/worst_case_default_space.json "$dir/worst-case.in"
}
