#!/usr/bin/env bash
# Checks that ember_bench's in-process times are honest: each library timed inside
# ember_bench (both libraries' rows run, interleaved, in one process) against the same
# library timed alone (LibTorch: libtorch_standalone, a process without ember; ember:
# ember_bench running only ember's rows, LibTorch loaded but idle). Runs the three kinds
# of process in turn, ROUNDS times, one repetition each, and prints per row the medians
# over the rounds and in-process / alone (within 1.10 is the target).
#   scripts/bench_baseline.sh [--libtorch pip|debian] [--rounds N] [--filter REGEX]
#                             [--threads N]
# The filter picks workloads (default: attention_fwdbwd|seed_train_step). Builds first
# with scripts/bench.sh --build-only. Extra environment (OMP_WAIT_POLICY, ...) applies to
# all three processes alike.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
libtorch=() rounds=5 filter='attention_fwdbwd|seed_train_step' threads=()
while (($#)); do
  case "$1" in
    --libtorch) libtorch=(--libtorch "$2"); shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    --threads) threads=(--threads "$2"); shift 2 ;;
    *) echo "bench_baseline.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

build_dir="$(bash "$root/scripts/bench.sh" "${libtorch[@]}" --build-only | tail -n 1)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
common=(--benchmark_repetitions=1 --benchmark_out_format=json "${threads[@]}")
cd "$root"
for ((i = 0; i < rounds; ++i)); do
  # Alternate the order, so a drift in the machine's load hits all three alike.
  kinds=(alone ember_alone inprocess)
  ((i % 2)) && kinds=(inprocess ember_alone alone)
  for kind in "${kinds[@]}"; do
    case "$kind" in
      alone) "$build_dir/bench/libtorch_standalone" "${common[@]}" \
        --benchmark_filter="^libtorch/($filter)/" --benchmark_out="$out/$kind.$i.json" ;;
      ember_alone) "$build_dir/bench/ember_bench" "${common[@]}" \
        --benchmark_filter="^ember/($filter)/" --benchmark_out="$out/$kind.$i.json" ;;
      inprocess) "$build_dir/bench/ember_bench" "${common[@]}" --no-peak-rss \
        --benchmark_filter="^(ember|libtorch)/($filter)/" --benchmark_out="$out/$kind.$i.json" ;;
    esac >"$out/$kind.$i.log" 2>&1 || { cat "$out/$kind.$i.log" >&2; exit 1; }
    echo "round $((i + 1))/$rounds: $kind done" >&2
  done
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
# (kind, benchmark) -> {"wall": [ms], "cpu": [ms of all threads], "faults": [...]}
runs = {}
for kind in ("alone", "ember_alone", "inprocess"):
    for i in range(rounds):
        for b in json.load(open(f"{out}/{kind}.{i}.json"))["benchmarks"]:
            if b.get("run_type") != "iteration":
                continue
            unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
            r = runs.setdefault((kind, b["run_name"]), {"wall": [], "cpu": [], "faults": []})
            r["wall"].append(b["real_time"] * unit)
            r["cpu"].append(b.get("cpu_ms", float("nan")))
            r["faults"].append(b.get("faults", float("nan")))
med = statistics.median
print(f"medians over {rounds} rounds (in-process / alone: target <= 1.10). wall: ms per")
print("iteration; cpu: ms of all the process's threads per iteration (robust to other load);")
print("faults: page faults per iteration")
print(f"{'benchmark':38s} {'wall alone':>10s} {'in-proc':>8s} {'ratio':>6s} {'cpu alone':>10s} "
      f"{'in-proc':>8s} {'ratio':>6s} {'faults alone':>12s} {'in-proc':>8s}")
worst_wall = worst_cpu = 0.0
for (kind, name), r in sorted(runs.items()):
    if kind != "inprocess":
        continue
    alone_kind = "alone" if name.startswith("libtorch/") else "ember_alone"
    a = runs.get((alone_kind, name))
    if a is None:
        continue
    wall = med(r["wall"]) / med(a["wall"])
    cpu = med(r["cpu"]) / med(a["cpu"])
    worst_wall, worst_cpu = max(worst_wall, wall), max(worst_cpu, cpu)
    print(f"{name.removesuffix('/real_time'):38s} {med(a['wall']):10.2f} {med(r['wall']):8.2f} "
          f"{wall:6.3f} {med(a['cpu']):10.2f} {med(r['cpu']):8.2f} {cpu:6.3f} "
          f"{med(a['faults']):12.0f} {med(r['faults']):8.0f}")
verdict = lambda x: "OK" if x <= 1.10 else "NOT within 10%"
print(f"worst wall ratio {worst_wall:.3f}: {verdict(worst_wall)}; "
      f"worst cpu ratio {worst_cpu:.3f}: {verdict(worst_cpu)}")
PY
