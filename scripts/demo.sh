#!/usr/bin/env bash
# ember's main job: builds in Release and runs the demo program.
# (Until the trainer lands, the demo shows tensors, broadcasting and a matmul.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target ember_demo -j "$(nproc)"
./build/examples/ember_demo "$@"
