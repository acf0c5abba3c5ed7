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
# 4. times large workloads on the GPU with ember (cuBLAS and the tiled GEMM; conv2d with
#    ember's kernels, with TF32, and with cuDNN) and with the PyTorch installed on the
#    machine (its CUDA kernels are LibTorch's), when python3 can import torch;
#    attention forward + backward at batch 4, 16 heads, sequence 2048,
#    head dims 64 and 128, f32 and bf16, against torch's scaled_dot_product_attention;
# 5. writes OUTDIR/results.md and OUTDIR/results.json (and the logs and JUnit files).
#
# Exit status 0 only when the GPU was found, the build succeeded and every test passed.
# About 3 minutes on 16 cores and an H200; every step has a time limit, so the whole run
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

# ---- 4. timings: ember against PyTorch's CUDA kernels -------------------------------------------
timing_ok=0
if ((built)) && [[ "$gpu" != "none" ]]; then
  step timing_cublas 120 "$tests_dir/sim/ember_gpu_timing" --device cuda --workloads base && timing_ok=1
  EMBER_CUDA_GEMM=tiled step timing_tiled 120 "$tests_dir/sim/ember_gpu_timing" --device cuda --workloads base || true
  ((timing_ok)) || note "ember timing failed: see timing_cublas.log"
  # conv2d: ember's kernels (FMA, then TF32) and ember's cuDNN wrapper.
  EMBER_CONV=ember step timing_conv_ember 120 "$tests_dir/sim/ember_gpu_timing" --device cuda --workloads conv ||
    note "ember conv timing failed: see timing_conv_ember.log"
  EMBER_CONV=ember EMBER_CONV_TF32=1 step timing_conv_tf32 120 "$tests_dir/sim/ember_gpu_timing" --device cuda \
    --workloads conv || note "ember TF32 conv timing failed: see timing_conv_tf32.log"
  EMBER_CONV=cudnn step timing_conv_cudnn 120 "$tests_dir/sim/ember_gpu_timing" --device cuda --workloads conv ||
    note "cuDNN conv timing failed: see timing_conv_cudnn.log"
fi
torch_ok=0
if [[ "$gpu" != "none" ]] && python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  step timing_torch 180 python3 - <<'PY' && torch_ok=1
# The workloads of tests/sim/gpu_timing.cpp in PyTorch, timed the same way: one warm-up,
# then the median of 20 runs, each synchronized. Full f32 matmul and convolutions (no
# TF32), as ember's; the conv rows again with TF32 ("_tf32") beside ember's TF32 kernels.
import json, time, torch
import torch.nn.functional as F
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(0)
dev = "cuda"
n, r, c, m = 1 << 26, 8192, 8192, 4096
a, b = torch.randn(n, device=dev), torch.randn(n, device=dev)
x = torch.randn(r, c, device=dev)
p, q = torch.randn(m, m, device=dev), torch.randn(m, m, device=dev)
work = {
    "add_f32": lambda: a + b,
    "sum_rows_f32": lambda: x.sum(1),
    "softmax_rows_f32": lambda: x.softmax(1),
    "randn_f32": lambda: torch.randn(n, device=dev),
    "matmul_f32": lambda: p @ q,
}
# Attention, forward + backward (torch.autograd.grad of q, k, v), batch 4, 16 heads,
# sequence 2048, as ember_gpu_timing's attention rows: f32 tensors, and bf16 tensors for the
# rows ember runs on its bf16 tensor-core path (PyTorch then picks its flash kernels).
def attention(d, dtype):
    q, k, v, g = (torch.randn(4, 16, 2048, d, device=dev, dtype=dtype) for _ in range(4))
    def run():
        qq, kk, vv = (t.detach().requires_grad_() for t in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(qq, kk, vv)
        return torch.autograd.grad(y, (qq, kk, vv), g)[0]
    return run
for d in (64, 128):
    work[f"attention_fwdbwd_d{d}_f32"] = attention(d, torch.float32)
    work[f"attention_fwdbwd_d{d}_bf16"] = attention(d, torch.bfloat16)
# ResNet-50's 3x3 layers at batch 32: forward, then the input and weight gradients.
def conv_fwdbwd(xc, wc, gc):
    def run():
        y = F.conv2d(xc, wc, padding=1)
        return torch.autograd.grad(y, (xc, wc), gc)
    return run
for ch, hw in [(64, 56), (128, 28), (256, 14), (512, 7)]:
    xc = torch.randn(32, ch, hw, hw, device=dev, requires_grad=True)
    wc = torch.randn(ch, ch, 3, 3, device=dev, requires_grad=True)
    gc = torch.randn(32, ch, hw, hw, device=dev)
    work[f"conv3x3_c{ch}_{hw}_fwdbwd"] = conv_fwdbwd(xc, wc, gc)
def timed(name, fn):
    fn(); torch.cuda.synchronize()
    ms = []
    for _ in range(20):
        t0 = time.perf_counter(); fn(); torch.cuda.synchronize()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    print(json.dumps({"name": name, "device": "cuda", "torch": torch.__version__, "ms": ms[len(ms) // 2]}))
for name, fn in work.items():
    timed(name, fn)
torch.backends.cudnn.allow_tf32 = True
for name, fn in list(work.items()):
    if name.startswith("conv"):
        timed(name + "_tf32", fn)
PY
  ((torch_ok)) || note "PyTorch timing failed: see timing_torch.log"
else
  note "PyTorch with CUDA not importable: no baseline timings"
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

def timings(name):
    rows = {}
    path = os.path.join(out, name)
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                d = json.loads(line)
                rows[d["name"]] = d
    return rows

tests = {k: junit(f) for k, f in [("cuda_ops", "cuda_ops.xml"), ("cuda_sim_suite", "cuda_sim_suite.xml"),
                                   ("ctest_other", "ctest.xml")]}
ember, tiled, torch = timings("timing_cublas.log"), timings("timing_tiled.log"), timings("timing_torch.log")
rows = []
for name, e in ember.items():
    t = torch.get(name, {}).get("ms")
    rows.append({"name": name, "ember_ms": e["ms"], "ember_tiled_ms": tiled.get(name, {}).get("ms"),
                 "torch_ms": t, "ratio": (e["ms"] / t) if t else None,
                 "ember_gbps": e["gbps"], "ember_tflops": e["tflops"]})
# conv2d: ember's kernels, with TF32, ember's cuDNN wrapper, and PyTorch (TF32 off / on).
conv_e, conv_t = timings("timing_conv_ember.log"), timings("timing_conv_tf32.log")
conv_c = timings("timing_conv_cudnn.log")
conv_rows = []
for name in sorted(set(conv_e) | set(conv_c), key=lambda n: int(n.split("_")[1][1:])):
    e, t, c = conv_e.get(name, {}), conv_t.get(name, {}), conv_c.get(name, {})
    flops = next((r["tflops"] * r["ms"] * 1e9 for r in (e, t, c) if r.get("ms")), None)
    tf = lambda ms: flops / ms * 1e-9 if (flops and ms) else None
    pt, pt32 = torch.get(name, {}).get("ms"), torch.get(name + "_tf32", {}).get("ms")
    conv_rows.append({"name": name, "ember_ms": e.get("ms"), "ember_tf32_ms": t.get("ms"), "cudnn_ms": c.get("ms"),
                      "torch_ms": pt, "torch_tf32_ms": pt32,
                      "ember_tflops": tf(e.get("ms")), "ember_tf32_tflops": tf(t.get("ms")),
                      "cudnn_tflops": tf(c.get("ms")), "torch_tflops": tf(pt), "torch_tf32_tflops": tf(pt32),
                      "ember_over_cudnn": (e["ms"] / c["ms"]) if e.get("ms") and c.get("ms") else None,
                      "ember_over_torch": (e["ms"] / pt) if e.get("ms") and pt else None})
result = {
    "status": os.environ["STATUS"], "commit": os.environ["COMMIT"], "gpu": os.environ["GPU"],
    "nvcc": os.environ["NVCC"], "cuda_archs": os.environ["ARCHS"], "built": os.environ["BUILT"] == "1",
    "build_seconds": int(os.environ["BUILD_SECONDS"]), "total_seconds": int(os.environ["TOTAL_SECONDS"]),
    "tests": tests, "timings": rows, "conv_timings": conv_rows,
    "torch_version": next(iter(torch.values()), {}).get("torch"),
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
md += ["", "| workload | ember ms | ember tiled GEMM ms | PyTorch ms | ember / PyTorch | ember GB/s | ember TFLOP/s |",
       "|---|---|---|---|---|---|---|"]
for r in rows:
    md.append(f"| {r['name']} | {fmt(r['ember_ms'])} | {fmt(r['ember_tiled_ms'])} | {fmt(r['torch_ms'])} | "
              f"{fmt(r['ratio'])} | {fmt(r['ember_gbps'], 4)} | {fmt(r['ember_tflops'], 4)} |")
if conv_rows:
    md += ["", "conv2d, f32, forward + both gradients (ms / TFLOP/s; TF32 columns use tensor cores):", "",
           "| workload | ember | ember TF32 | cuDNN (ember's wrapper) | PyTorch | PyTorch TF32 | ember / cuDNN | ember / PyTorch |",
           "|---|---|---|---|---|---|---|---|"]
    both = lambda r, k: f"{fmt(r[k + '_ms'])} / {fmt(r[k + '_tflops'])}"
    for r in conv_rows:
        md.append(f"| {r['name']} | {both(r, 'ember')} | {both(r, 'ember_tf32')} | {both(r, 'cudnn')} | "
                  f"{both(r, 'torch')} | {both(r, 'torch_tf32')} | {fmt(r['ember_over_cudnn'])} | "
                  f"{fmt(r['ember_over_torch'])} |")
if result["notes"]:
    md += ["", "Notes:"] + [f"- {n}" for n in result["notes"]]
open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY

log "done: $status in $(($(date +%s) - start)) s; results in $out/results.md and results.json"
[[ "$status" == "pass" ]]
