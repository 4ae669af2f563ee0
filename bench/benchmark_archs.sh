# The four benchmark architectures of bench/run.sh and bench/precision_auto.sh, in one
# place; sourced. write_benchmark_archs DIR writes DIR/<name>.in (fmnist-trial parameters)
# for each name of benchmark_archs, run from the repository's root.
benchmark_archs=(smallest largest residual-93 worst-case)
write_benchmark_archs() {
  local dir=$1
  cp bench/archs/smallest.json "$dir/smallest.in"   # the seed's smallest and largest CNN,
  cp bench/archs/largest.json "$dir/largest.in"     # bench_train's default architectures
  cp examples/residual-93.json "$dir/residual-93.in"
  cp bench/archs/worst-case.json "$dir/worst-case.in"
}
