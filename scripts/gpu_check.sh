#!/usr/bin/env bash
# The one command to validate ember on a machine with an NVIDIA GPU (Hopper first):
#
#   scripts/gpu_check.sh OUTDIR
#
# 1. checks that a GPU is visible (nvidia-smi) and nvcc is there;
# 2. builds ember and its tests for EMBER_CUDA_ARCHS (default 90, i.e. sm_90) in
#    build-gpu/, finding Eigen, GoogleTest, Google Benchmark and nlohmann-json in
#    .devdeps/ when the machine lacks them (scripts/pack_devdeps.sh, docs/gpu.md);
# 3. runs every test: the cuda suites in one process each with EMBER_REQUIRE_CUDA=1 (a
#    cuda test fails, rather than skips, if the device is missing), then all other
#    tests through ctest;
#    then times ember against PyTorch (bench/gpu: matmul, attention, the training step) into
#    OUTDIR/gpu_bench.md and gpu_bench.json (without torch, ember's side alone);
# 4. times every op case of the registry on the GPU (scripts/ops.sh --device cuda --perf:
#    ms, GB/s, GFLOP/s per case) into OUTDIR/ops_perf.log;
# 5. writes OUTDIR/results.md and OUTDIR/results.json (and the logs and JUnit files).
#
# Exit status 0 only when the GPU was found, the build succeeded and every test passed.
# About 4 minutes on 16 cores and an H200; every step has a time limit, so the whole run
# stays well under 10 minutes. Environment: EMBER_CUDA_ARCHS, JOBS, BUILD_DIR.
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: scripts/gpu_check.sh OUTDIR" >&2
  exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
build="${BUILD_DIR:-$root/build-gpu}"
jobs="${JOBS:-$(nproc)}"
archs="${EMBER_CUDA_ARCHS:-90}"
start=$(date +%s)
status="pass"
notes=()

log() { echo "gpu_check [$(($(date +%s) - start)) s]: $*" | tee -a "$out/gpu_check.log"; }
note() { notes+=("$*"); log "$*"; }
fail() { status="fail"; note "FAIL: $*"; }
# step NAME SECONDS CMD...: runs CMD with a time limit, its output in OUTDIR/NAME.log.
step() {
  local name="$1" limit="$2"
  shift 2
  log "$name: $*"
  timeout --kill-after=10 "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  [[ $rc -eq 124 || $rc -eq 137 ]] && note "$name: stopped after ${limit} s"
  return $rc
}
: >"$out/gpu_check.log"

# ---- 1. the machine ------------------------------------------------------------------------
gpu="none"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader | head -1)"
  log "GPU: $gpu"
else
  fail "no GPU is visible (nvidia-smi -L failed)"
fi
nvcc_version="$( (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>/dev/null | tail -1)"
[[ -n "$nvcc_version" ]] || fail "nvcc not found"
log "nvcc: $nvcc_version; cmake: $(cmake --version | head -1); $(nproc) cores"

# ---- 2. build -------------------------------------------------------------------------------
# Warnings are not errors here: the machine's compiler may be newer than CI's and warn
# about new things; this check is about the GPU. build.log keeps the warnings.
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DEMBER_CUDA=ON "-DEMBER_CUDA_ARCHS=$archs" -DEMBER_BUILD_TESTS=ON
            -DEMBER_BUILD_BENCH=OFF -DEMBER_WERROR=OFF)
command -v ninja >/dev/null && [[ ! -f "$build/CMakeCache.txt" ]] && cmake_args+=(-G Ninja)
dd="$root/.devdeps"
if [[ -d "$dd" ]]; then
  # Named one by one: a distribution that does not search lib/<multiarch> still finds them.
  ml=""
  for d in "$dd"/lib/*/cmake; do [[ -d "$d" ]] && ml="$d" && break; done
  cmake_args+=("-DCMAKE_PREFIX_PATH=$dd" "-DEigen3_DIR=$dd/share/eigen3/cmake"
               "-Dnlohmann_json_DIR=$dd/share/cmake/nlohmann_json")
  [[ -n "$ml" ]] && cmake_args+=("-DGTest_DIR=$ml/GTest" "-Dbenchmark_DIR=$ml/benchmark")
  log "using the packed dependencies in $dd"
fi
build_start=$(date +%s)
built=0
if step configure 300 cmake -S "$root" -B "$build" "${cmake_args[@]}" &&
   step build 420 cmake --build "$build" -j "$jobs"; then
  built=1
else
  fail "the build failed: see build.log / configure.log"
  tail -30 "$out/configure.log" "$out/build.log" 2>/dev/null | sed 's/^/  /'
fi
build_seconds=$(($(date +%s) - build_start))

# ---- 3. tests -------------------------------------------------------------------------------
export EMBER_REQUIRE_CUDA=1
# ember opens cuDNN (libcudnn.so.N) on the first cuda convolution, from the loader path
# or the CUDA toolkit's library folder. A machine whose only cuDNN is the one inside
# PyTorch's wheels gets that folder on the loader path.
cuda_libs="$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")/.."
if ! ldconfig -p 2>/dev/null | grep -q 'libcudnn\.so\.' &&
   ! ls "$cuda_libs"/lib*/libcudnn.so.* "$cuda_libs"/targets/*/lib/libcudnn.so.* >/dev/null 2>&1; then
  cudnn_dir="$(python3 -c 'import os, nvidia.cudnn as m; print(os.path.join(list(m.__path__)[0], "lib"))' 2>/dev/null)"
  if [[ -n "$cudnn_dir" && -d "$cudnn_dir" ]]; then
    export LD_LIBRARY_PATH="$cudnn_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    log "cuDNN from PyTorch's wheels: $cudnn_dir"
  fi
fi
tests_dir="$build/tests"
if ((built)); then
  # The cuda suites, one process each (one CUDA context, not one per test). cuda_ops holds
  # the registry (conv2d, attention, optimizer steps) and every conv2d implementation.
  step cuda_ops 240 "$tests_dir/sim/ember_device_op_tests" \
      "--gtest_filter=*OpCaseCuda*:*/cuda:CudaDevice.*" "--gtest_output=xml:$out/cuda_ops.xml" ||
    fail "cuda op tests failed: see cuda_ops.log"
  step cuda_sim_suite 120 "$tests_dir/sim/ember_sim_tests" "--gtest_filter=*/cuda" \
      "--gtest_output=xml:$out/cuda_sim_suite.xml" || fail "cuda tests of ember_sim_tests failed"
  # Everything else through ctest (cpu, sim, grad, nn, ...).
  step ctest 420 ctest --test-dir "$build" -LE cuda -j "$jobs" --timeout 120 --output-on-failure \
      --output-junit "$out/ctest.xml" || fail "ctest (all but the cuda label) failed: see ctest.log"
fi

# ---- 3b. ember against PyTorch: the GPU rows of bench/gpu (issue 16; docs/gpu.md) ---------------
# ember_gpu_bench times bf16 and f32 (TF32 off and on) matmul 4096^3, bf16 fused attention
# (B=4 H=16 T=2048 D=128, causal and not, forward and forward+backward) and the main job's
# training step (bf16-mixed and f32) with CUDA events; torch_gpu_bench.py the same rows in
# PyTorch. rows.py joins them into OUTDIR/gpu_bench.md and gpu_bench.json. About a minute;
# each side has its own limit. A missing torch, a failed row or a side stopped by its limit
# is a note, not a failure of the check: the tests above decide that.
if ((built)) && [[ "$gpu" != "none" ]]; then
  bench_dir="$root/bench/gpu"
  : >"$out/gpu_bench_ember.jsonl"
  : >"$out/gpu_bench_torch.jsonl"
  bench_notes=()
  # stdout (the JSON lines) to the .jsonl file, stderr to the step's log; exec, so that the
  # time limit's signal reaches the program itself.
  step gpu_bench_ember 120 bash -c 'exec "$1" --device cuda >"$2"' _ \
      "$build/bench/gpu/ember_gpu_bench" "$out/gpu_bench_ember.jsonl" ||
    bench_notes+=("ember_gpu_bench: a row failed or the program stopped (gpu_bench_ember.log)")
  if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' \
      >/dev/null 2>&1; then
    step gpu_bench_torch 120 bash -c 'exec python3 "$1" --device cuda >"$2"' _ \
        "$bench_dir/torch_gpu_bench.py" "$out/gpu_bench_torch.jsonl" ||
      bench_notes+=("torch_gpu_bench.py: a row failed or the script stopped (gpu_bench_torch.log)")
  else
    bench_notes+=("PyTorch rows skipped: python3 has no torch that sees the GPU")
  fi
  for n in "${bench_notes[@]+"${bench_notes[@]}"}"; do note "gpu_bench: $n"; done
  note_args=()
  for n in "${bench_notes[@]+"${bench_notes[@]}"}"; do note_args+=(--note "$n"); done
  step gpu_bench_join 30 python3 "$bench_dir/rows.py" join "$out/gpu_bench_ember.jsonl" \
      "$out/gpu_bench_torch.jsonl" "$out" "${note_args[@]+"${note_args[@]}"}" ||
    note "gpu_bench: rows.py join failed (gpu_bench_join.log)"
fi

# ---- 4. timings: every registry case on the GPU (scripts/ops.sh, docs/ops.md) --------------------
if ((built)) && [[ "$gpu" != "none" ]]; then
  BUILD_DIR="$build" step ops_perf 300 bash "$root/scripts/ops.sh" --device cuda --perf \
    --min-time 0.05 || note "op timings failed: see ops_perf.log"
fi

# ---- 5. results -----------------------------------------------------------------------------
total_seconds=$(($(date +%s) - start))
export OUT="$out" STATUS="$status" GPU="$gpu" NVCC="$nvcc_version" ARCHS="$archs" BUILD_SECONDS="$build_seconds"
NOTES="$(printf '%s\n' "${notes[@]+"${notes[@]}"}")"
COMMIT="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
export TOTAL_SECONDS="$total_seconds" BUILT="$built" NOTES COMMIT
python3 - <<'PY' || { echo "gpu_check: could not write results (python3 missing?)" >&2; status="fail"; }
import json, os, xml.etree.ElementTree as ET
out = os.environ["OUT"]

def junit(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for s in suites:
        for k in counts:
            counts[k] += int(s.get(k, s.get("disabled", 0) if k == "skipped" else 0) or 0)
    failed = []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("classname", "") + "." + case.get("name", ""))
    counts["failed_tests"] = failed[:50]
    return counts

# The rows of ops_perf.log: case, ms, GB/s, GFLOP/s, [roofline,] runs.
def op_timings(name):
    rows = []
    path = os.path.join(out, name)
    if os.path.exists(path):
        for line in open(path):
            f = line.split()
            if len(f) in (5, 6) and "/" in f[0]:
                try:
                    nums = [float(x) for x in f[1:]]
                except ValueError:
                    continue
                rows.append({"name": f[0], "ms": nums[0], "gbps": nums[1], "gflops": nums[2],
                             "roofline": nums[3] if len(f) == 6 else None})
    return rows

tests = {k: junit(f) for k, f in [("cuda_ops", "cuda_ops.xml"), ("cuda_sim_suite", "cuda_sim_suite.xml"),
                                   ("ctest_other", "ctest.xml")]}
rows = op_timings("ops_perf.log")
# bench/gpu's rows against PyTorch (step 3b), joined by rows.py.
gpu_bench_path = os.path.join(out, "gpu_bench.json")
gpu_bench = json.load(open(gpu_bench_path)) if os.path.exists(gpu_bench_path) else None
result = {
    "status": os.environ["STATUS"], "commit": os.environ["COMMIT"], "gpu": os.environ["GPU"],
    "nvcc": os.environ["NVCC"], "cuda_archs": os.environ["ARCHS"], "built": os.environ["BUILT"] == "1",
    "build_seconds": int(os.environ["BUILD_SECONDS"]), "total_seconds": int(os.environ["TOTAL_SECONDS"]),
    "tests": tests, "op_timings": rows, "gpu_bench": gpu_bench,
    "notes": [n for n in os.environ["NOTES"].split("\n") if n],
}
json.dump(result, open(os.path.join(out, "results.json"), "w"), indent=2)

md = [f"# ember GPU check: {result['status'].upper()}", "",
      f"- commit `{result['commit']}`, GPU: {result['gpu']}", f"- {result['nvcc']}, archs {result['cuda_archs']}",
      f"- build {result['build_seconds']} s, whole check {result['total_seconds']} s", "",
      "| tests | run | failed | skipped |", "|---|---|---|---|"]
for k, v in tests.items():
    if v:
        md.append(f"| {k} | {v['tests']} | {v['failures'] + v['errors']} | {v['skipped']} |")
    else:
        md.append(f"| {k} | not run | | |")
for k, v in tests.items():
    for f in (v or {}).get("failed_tests", []):
        md.append(f"- failed: `{f}`")
fmt = lambda v, p=3: "-" if v is None else f"{v:.{p}g}"
if rows:
    md += ["", f"{len(rows)} op cases timed on cuda (all in ops_perf.log); the 15 slowest:", "",
           "| case | ms | GB/s | GFLOP/s | roofline |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r["ms"])[:15]:
        md.append(f"| {r['name']} | {fmt(r['ms'])} | {fmt(r['gbps'], 4)} | {fmt(r['gflops'], 4)} | "
                  f"{fmt(r['roofline'])} |")
if os.path.exists(os.path.join(out, "gpu_bench.md")):
    md += [""] + open(os.path.join(out, "gpu_bench.md")).read().rstrip("\n").split("\n")
if result["notes"]:
    md += ["", "Notes:"] + [f"- {n}" for n in result["notes"]]
open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY

log "done: $status in $(($(date +%s) - start)) s; results in $out/results.md and results.json"
[[ "$status" == "pass" ]]
