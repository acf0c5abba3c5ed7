#!/usr/bin/env bash
# The op-case registry's driver: checks every op case against its f64 reference on each
# device, gradchecks the differentiable ones, or times them against the roofline.
#
#   scripts/ops.sh [--list] [--device cpu|sim|cuda] [--filter REGEX] [--perf] [--min-time S]
#
# Configures the Release build in build/ if needed (as scripts/test.sh does), builds only
# the ember_ops target and runs it with the arguments (docs/ops.md). BUILD_DIR overrides
# the build folder (scripts/gpu_check.sh passes its build-gpu/).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
if ! grep -qs '^EMBER_BUILD_TESTS:BOOL=ON' "$build/CMakeCache.txt"; then
  bash scripts/bootstrap.sh >&2
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_TESTS=ON >&2
fi
cmake --build "$build" --target ember_ops -j "$(nproc)" >&2
exec "$build/tests/ember_ops" "$@"
