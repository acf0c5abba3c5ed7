#!/usr/bin/env bash
# Installs, with apt-get, whatever ember's build, tests and benchmarks need and this
# machine lacks. A no-op (and silent but for one line) when everything is there.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libeigen3-dev            # CPU GEMM
  libgtest-dev libgmock-dev  # tests
  libbenchmark-dev         # benchmarks
  nlohmann-json3-dev       # benchmark JSON, safetensors headers
  libopenblas0-pthread libopenblas-dev  # so LibTorch is not on the reference BLAS
  libtorch-dev             # the benchmarks' baseline
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all build dependencies present"
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
