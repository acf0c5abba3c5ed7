#!/usr/bin/env bash
# Builds one example (examples/NAME, CMake target NAME) in Release and runs it with the
# flags that follow, as scripts/demo.sh does for the main job:
#   bash scripts/example.sh fashion_mnist --max-epochs 2 --batch-size 256
#   bash scripts/example.sh captioning --decoder simple
# The examples take the main job's flags where they apply (--max-epochs, --max-steps,
# --batch-size, --lr, --accelerator, --seed, --default-root-dir, --ckpt-path, --threads) and
# write logs and checkpoints under runs/NAME/lightning_logs/version_N/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || "$1" == -* ]]; then
  echo "usage: scripts/example.sh NAME [flags]   (NAME: a folder of examples/)" >&2
  exit 2
fi
name="$1"
shift
if [[ ! -d "examples/$name" ]]; then
  echo "example.sh: no example '$name'; there are:" \
    "$(find examples -mindepth 1 -maxdepth 1 -type d -printf '%f ')" >&2
  exit 2
fi
bash scripts/bootstrap.sh core
tests=()
[[ -f build/CMakeCache.txt ]] || tests=(-DEMBER_BUILD_TESTS=OFF)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${tests[@]}"
cmake --build build --target "$name" -j "$(nproc)"
"./build/examples/$name/$name" "$@"
