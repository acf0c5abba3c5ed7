#!/usr/bin/env bash
# Fuzzes the safetensors parser with libFuzzer: builds ember with clang, instrumented for
# coverage and AddressSanitizer, then runs for SECONDS (default 60) on the corpus in
# tests/fuzz/corpus. New interesting inputs land in build-fuzz/corpus; copy small ones
# that found bugs into tests/fuzz/corpus so every build replays them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash scripts/bootstrap.sh test
command -v clang++ >/dev/null || { echo "fuzz: needs clang++ (apt-get install clang)"; exit 1; }
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DEMBER_FUZZ=ON -DEMBER_WERROR=OFF -DEMBER_BUILD_TESTS=ON -DEMBER_CUDA=OFF
cmake --build build-fuzz --target ember_safetensors_fuzz -j "$(nproc)"
mkdir -p build-fuzz/corpus
./build-fuzz/tests/fuzz/ember_safetensors_fuzz build-fuzz/corpus tests/fuzz/corpus \
  -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048
