#!/usr/bin/env bash
# Builds ember_bench (Release, in build-bench/) and runs it: ember against LibTorch on
# the same workloads. Arguments go to ember_bench:
#   scripts/bench.sh [--json FILE] [--threads N] [--benchmark_filter=REGEX] [...]
# Environment: BUILD_DIR (default build-bench), JOBS (default: all cores),
#              CMAKE_ARGS (extra configure arguments, split on spaces).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$root/build-bench}"
jobs="${JOBS:-$(nproc)}"

if [[ -f "$root/scripts/bootstrap.sh" ]]; then
  bash "$root/scripts/bootstrap.sh" bench
fi

# A relative --json path means relative to where the script was called from, but the
# benchmark runs from the repository root: make it absolute first.
args=()
while (($#)); do
  case "$1" in
    --json)
      [[ $# -ge 2 ]] || { echo "bench.sh: --json needs a file" >&2; exit 2; }
      args+=(--json "$(realpath -m -- "$2")"); shift 2 ;;
    --json=*)
      args+=(--json "$(realpath -m -- "${1#--json=}")"); shift ;;
    *)
      args+=("$1"); shift ;;
  esac
done

# Ninja, as scripts/test.sh uses, for a fresh build folder; an existing one keeps the
# generator it was made with (CMake refuses to switch).
generator=()
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
  generator=(-G Ninja)
fi
# shellcheck disable=SC2086  # CMAKE_ARGS is a list of words on purpose
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DEMBER_BUILD_BENCH=ON -DEMBER_BUILD_TESTS=OFF ${CMAKE_ARGS:-}
cmake --build "$build_dir" --target ember_bench -j "$jobs"

cd "$root"
exec "$build_dir/bench/ember_bench" "${args[@]}"
