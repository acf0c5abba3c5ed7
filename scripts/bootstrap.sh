#!/usr/bin/env bash
# Installs, with apt-get, what one of ember's commands needs and this machine lacks. A no-op
# (and silent but for one line) when everything is there.
#   scripts/bootstrap.sh core   build the library and its programs, the examples' data sets
#                               (scripts/demo.sh, scripts/example.sh)
#   scripts/bootstrap.sh test   core + GoogleTest (scripts/test.sh, .ci/run)
#   scripts/bootstrap.sh ci     test + clang-format, clang and LLVM's OpenMP (.ci/run: the
#                               format check and the ThreadSanitizer build)
#   scripts/bootstrap.sh bench  core + Google Benchmark and LibTorch, ~600 MB (scripts/bench.sh)
#   scripts/bootstrap.sh all    all of the above (the default)
set -euo pipefail

core=(
  cmake ninja-build g++ pkg-config
  libeigen3-dev            # CPU GEMM
  nlohmann-json3-dev       # safetensors headers, checkpoints, benchmark JSON
  zlib1g-dev               # gzip of the data sets the examples read
  dataset-fashion-mnist    # examples/fashion_mnist (and its ctest), ~30 MB
  fortunes                 # examples/char_lm (and its ctest): the fortune-cookie text, ~3 MB
  libgloo-dev              # distributed/: the Gloo backend (collectives over TCP)
)  # OpenMP comes with g++ (libgomp)
test=(libgtest-dev libgmock-dev)
ci=(clang clang-format libomp-dev python3)
bench=(
  libbenchmark-dev
  libopenblas0-pthread libopenblas-dev  # so LibTorch is not on the reference BLAS
  libtorch-dev             # the benchmarks' baseline
)

case "${1:-all}" in
  core) packages=("${core[@]}") ;;
  test) packages=("${core[@]}" "${test[@]}") ;;
  ci) packages=("${core[@]}" "${test[@]}" "${ci[@]}") ;;
  bench) packages=("${core[@]}" "${bench[@]}") ;;
  all) packages=("${core[@]}" "${test[@]}" "${ci[@]}" "${bench[@]}") ;;
  *) echo "usage: scripts/bootstrap.sh [core|test|ci|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${1:-all} dependencies present"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
  "${sudo_cmd[@]}" apt-get update
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
