#!/usr/bin/env bash
# Builds ember_bench (Release) against a LibTorch and runs it: ember against LibTorch on
# the same workloads. Arguments other than ours go to ember_bench:
#   scripts/bench.sh [--libtorch pip|debian] [--standalone] [--build-only]
#                    [--json FILE] [--threads N] [--benchmark_filter=REGEX] [...]
#   --libtorch pip     the newest `torch` wheel from PyPI, installed once into a virtual
#                      environment in the bench build folder (build-bench-pip/torch-venv,
#                      ~5 GB with the CUDA wheels it pulls) and reused: its LibTorch
#   --libtorch debian  Debian's libtorch-dev (1.13, OpenBLAS)
#                      Default: pip when the wheel is there or can be installed, else debian.
#   --standalone       run libtorch_standalone instead: LibTorch's rows alone, in a process
#                      without ember (the baseline for ember_bench's in-process LibTorch)
#   --build-only       build both programs, print the build folder, run nothing
# Environment: BUILD_DIR (default build-bench-pip for pip, build-bench for debian),
#              JOBS (default: all cores), CMAKE_ARGS (extra configure arguments, split on
#              spaces), PYTHON (the interpreter for the virtual environment, default python3).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${JOBS:-$(nproc)}"

# A relative --json path means relative to where the script was called from, but the
# benchmark runs from the repository root: make it absolute first.
args=()
libtorch="" program=ember_bench build_only=0
while (($#)); do
  case "$1" in
    --libtorch)
      [[ $# -ge 2 ]] || { echo "bench.sh: --libtorch needs pip or debian" >&2; exit 2; }
      libtorch="$2"; shift 2 ;;
    --libtorch=*)
      libtorch="${1#--libtorch=}"; shift ;;
    --standalone)
      program=libtorch_standalone; shift ;;
    --build-only)
      build_only=1; shift ;;
    --json)
      [[ $# -ge 2 ]] || { echo "bench.sh: --json needs a file" >&2; exit 2; }
      args+=(--json "$(realpath -m -- "$2")"); shift 2 ;;
    --json=*)
      args+=(--json "$(realpath -m -- "${1#--json=}")"); shift ;;
    *)
      args+=("$1"); shift ;;
  esac
done
case "$libtorch" in
  "" | pip | debian) ;;
  *) echo "bench.sh: --libtorch $libtorch: expected pip or debian" >&2; exit 2 ;;
esac

if [[ -f "$root/scripts/bootstrap.sh" ]]; then
  bash "$root/scripts/bootstrap.sh" bench
fi

# The pip wheel and its build folder: one folder per LibTorch, so switching is no rebuild.
# (Top-level folders: ccache, with CCACHE_BASEDIR, then shares ember's objects with other
# build folders of the same depth.)
pip_dir="${BUILD_DIR:-$root/build-bench-pip}"
venv="$pip_dir/torch-venv"
# The pip wheel: installed once (its `import torch` is the check), upgraded never; delete
# BUILD_DIR/torch-venv for a newer one. PyPI's default Linux wheel depends on CUDA wheels
# (nvidia-*): LibTorch's CMake config needs their libraries at link time even on the CPU.
pip_torch_ready() {
  [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import torch' 2>/dev/null
}
install_pip_torch() {
  pip_torch_ready && return 0
  echo "bench.sh: installing the newest torch wheel from PyPI into $venv (~5 GB, once)"
  "${PYTHON:-python3}" -m venv "$venv" && "$venv/bin/pip" install --no-input --upgrade pip &&
    "$venv/bin/pip" install --no-input torch && pip_torch_ready
}
if [[ -z "$libtorch" || "$libtorch" == pip ]]; then
  if install_pip_torch; then
    libtorch=pip
  elif [[ "$libtorch" == pip ]]; then
    echo "bench.sh: could not install the torch wheel (see above)" >&2; exit 1
  else
    echo "bench.sh: WARNING: no torch wheel from PyPI; falling back to Debian's LibTorch" >&2
    libtorch=debian
  fi
fi

build_dir="${BUILD_DIR:-$root/build-bench}"
[[ "$libtorch" == pip ]] && build_dir="$pip_dir"
torch_args=()
if [[ "$libtorch" == pip ]]; then
  prefix="$("$venv/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # Torch's CMake probes for a GPU to pick CUDA architectures unless told (9.0: any valid
  # one; nothing CUDA is compiled). Its libraries need the wheel's CUDA libraries (its
  # NCCL, not the toolkit's) to resolve at link time: -rpath-link to nvidia/*/lib.
  rpath_link="$(find "$site/nvidia" -mindepth 2 -maxdepth 3 -type d -name lib 2>/dev/null |
    sort | paste -sd: -)"
  torch_args=(-DCMAKE_PREFIX_PATH="$prefix" -DTORCH_CUDA_ARCH_LIST=9.0
    "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$site/torch/lib${rpath_link:+:$rpath_link}")
fi

# Ninja, as scripts/test.sh uses, for a fresh build folder; an existing one keeps the
# generator it was made with (CMake refuses to switch).
generator=()
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
  generator=(-G Ninja)
fi
# The bench runs on the CPU: no cuda device (nvcc would build its kernels for minutes).
# shellcheck disable=SC2086  # CMAKE_ARGS is a list of words on purpose
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DEMBER_BUILD_BENCH=ON -DEMBER_BUILD_TESTS=OFF -DEMBER_CUDA=OFF "${torch_args[@]}" \
  ${CMAKE_ARGS:-}
cmake --build "$build_dir" --target ember_bench libtorch_standalone ember_standalone -j "$jobs"

if ((build_only)); then
  echo "$build_dir"
  exit 0
fi
cd "$root"
exec "$build_dir/bench/$program" "${args[@]}"
