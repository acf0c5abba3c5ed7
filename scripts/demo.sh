#!/usr/bin/env bash
# ember's main job: builds in Release and trains the seed's captioning model with the
# Trainer (examples/captioning). Flags go to the program, e.g.
#   bash scripts/demo.sh --decoder simple --max-epochs 5 --accelerator cuda
# With none: the attention decoder on the cpu, 3 epochs, logs and checkpoints under
# runs/captioning/lightning_logs/version_N/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh core
# A fresh build folder without the tests (GoogleTest is not needed to train); one that
# scripts/test.sh configured keeps its settings.
tests=()
[[ -f build/CMakeCache.txt ]] || tests=(-DEMBER_BUILD_TESTS=OFF)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${tests[@]}"
cmake --build build --target captioning -j "$(nproc)"
./build/examples/captioning/captioning "$@"
