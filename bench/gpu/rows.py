#!/usr/bin/env python3
"""The rows of ember_gpu_bench and torch_gpu_bench.py: check them, join them (docs/gpu.md).

  rows.py check [--impl ember|torch] -- CMD [ARGS...]
      runs CMD and checks its stdout: one JSON object per line, every row of ROWS once, each
      timed (ms > 0, min_ms <= ms) with no error, and on the rows with a FLOP count TFLOP/s
      equal to the FLOPs of its shape (expected_flops) over its ms.
      Exit 0 when all hold; 1 (naming what failed) otherwise. ctest runs it on
      `ember_gpu_bench --device sim --small`.
  rows.py join EMBER_JSONL TORCH_JSONL OUTDIR [--note TEXT]...
      joins the two files by row name into OUTDIR/gpu_bench.json and OUTDIR/gpu_bench.md:
      ember's and torch's ms and TFLOP/s per row and the ratio ember_ms / torch_ms (as
      bench/'s ember_bench: below 1 ember is faster, 2 means twice PyTorch's time). A
      missing or unreadable file (no torch on the machine) gives rows without that side.
      Exit 0.
  rows.py selftest
      checks `join` and `check` on made-up rows (ctest: ember_gpu_bench_rows).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

# Every row, in print order: (name, has a FLOP count).
ROWS = [
    ("matmul_bf16", True),
    ("matmul_f32", True),
    ("matmul_f32_tf32", True),
    ("sdpa_bf16_fwd", True),
    ("sdpa_bf16_fwd_causal", True),
    ("sdpa_bf16_fwd_bwd", True),
    ("sdpa_bf16_fwd_bwd_causal", True),
    ("train_step_bf16_mixed", False),
    ("train_step_f32", False),
]


def parse_lines(text):
    """(rows by name, problems): one JSON object per non-empty line."""
    rows, problems = {}, []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            problems.append(f"line {n} is not JSON ({e}): {line[:120]}")
            continue
        if not isinstance(obj, dict) or "row" not in obj:
            problems.append(f"line {n} is not a row object: {line[:120]}")
            continue
        if obj["row"] in rows:
            problems.append(f"row {obj['row']} printed twice")
        rows[obj["row"]] = obj
    return rows, problems


def expected_flops(name, shape):
    """The row's FLOPs per run from its shape, as both programs count them (docs/gpu.md)."""
    if name.startswith("matmul_"):
        m, n, k = (int(x) for x in shape.split("x"))
        return 2.0 * m * n * k
    if name.startswith("sdpa_"):
        dims = {part[0]: int(part[1:]) for part in shape.split()}
        f = 4.0 * dims["B"] * dims["H"] * dims["T"] ** 2 * dims["D"]
        return f * (0.5 if name.endswith("_causal") else 1.0) * (3.5 if "_bwd" in name else 1.0)
    return None


def check_rows(rows, impl=None):
    problems = []
    for name, has_flops in ROWS:
        r = rows.get(name)
        if r is None:
            problems.append(f"row {name} is missing")
            continue
        if "error" in r:
            problems.append(f"row {name} failed: {r['error']}")
            continue
        if impl and r.get("impl") != impl:
            problems.append(f"row {name}: impl {r.get('impl')!r}, expected {impl!r}")
        ms, min_ms = r.get("ms"), r.get("min_ms")
        if not isinstance(ms, (int, float)) or not ms > 0:
            problems.append(f"row {name}: ms {ms!r} is not a positive number")
        elif not isinstance(min_ms, (int, float)) or not 0 < min_ms <= ms:
            problems.append(f"row {name}: min_ms {min_ms!r} not in (0, ms = {ms}]")
        tflops = r.get("tflops")
        if has_flops and (not isinstance(tflops, (int, float)) or not tflops > 0):
            problems.append(f"row {name}: tflops {tflops!r} is not a positive number")
        elif has_flops and isinstance(ms, (int, float)) and ms > 0:
            try:
                want = expected_flops(name, r.get("shape", "")) / (ms * 1e-3) / 1e12
            except (ValueError, KeyError, TypeError):
                problems.append(f"row {name}: shape {r.get('shape')!r} does not parse")
            else:
                if abs(tflops - want) > 1e-6 * want:
                    problems.append(f"row {name}: tflops {tflops} is not the row's FLOPs over "
                                    f"its ms ({want})")
        if not has_flops and tflops is not None:
            problems.append(f"row {name} has no FLOP count but tflops {tflops!r}")
        for key in ("shape", "dtype", "device"):
            if not isinstance(r.get(key), str) or not r[key]:
                problems.append(f"row {name}: no {key}")
    extra = sorted(set(rows) - {n for n, _ in ROWS})
    problems += [f"unknown row {n}" for n in extra]
    return problems


def cmd_check(args):
    if not args.cmd:
        print("rows.py check: no command given", file=sys.stderr)
        return 2
    cmd = args.cmd[1:] if args.cmd[0] == "--" else args.cmd
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    rows, problems = parse_lines(proc.stdout)
    problems += check_rows(rows, args.impl)
    if proc.returncode != 0:
        problems.append(f"{cmd[0]} exited with status {proc.returncode}")
    for p in problems:
        print(f"rows.py check: {p}", file=sys.stderr)
    print(f"rows.py check: {len(rows)} rows, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


def read_rows(path, notes, side):
    if not path or not os.path.exists(path):
        notes.append(f"no {side} rows ({path or 'no file'} is missing)")
        return {}
    rows, problems = parse_lines(open(path).read())
    notes += [f"{side}: {p}" for p in problems]
    return rows


def join(ember_path, torch_path, outdir, notes=()):
    notes = list(notes)
    ember, torch = read_rows(ember_path, notes, "ember"), read_rows(torch_path, notes, "torch")
    names = [n for n, _ in ROWS] + sorted((set(ember) | set(torch)) - {n for n, _ in ROWS})
    joined = []
    for name in names:
        e, t = ember.get(name), torch.get(name)
        if e is None and t is None:
            continue
        row = {"row": name, "shape": (e or t).get("shape") or (t or {}).get("shape"),
               "dtype": (e or t).get("dtype") or (t or {}).get("dtype")}
        for side, r in (("ember", e), ("torch", t)):
            r = r or {}
            row[f"{side}_ms"] = r.get("ms")
            row[f"{side}_tflops"] = r.get("tflops")
            if "error" in r:
                row[f"{side}_error"] = r["error"]
        if e and t and (e.get("shape"), e.get("dtype")) != (t.get("shape"), t.get("dtype")):
            notes.append(f"{name}: ember times {e.get('shape')} {e.get('dtype')}, torch "
                         f"{t.get('shape')} {t.get('dtype')}: not the same workload")
        if row["ember_ms"] and row["torch_ms"]:
            row["ratio"] = row["ember_ms"] / row["torch_ms"]
        else:
            row["ratio"] = None
        joined.append(row)
    device = next((r.get("device_name") for r in torch.values() if r.get("device_name")), None)
    result = {"rows": joined, "device": device, "notes": notes}
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "gpu_bench.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(outdir, "gpu_bench.md"), "w") as f:
        f.write("\n".join(markdown(result)) + "\n")
    return result


def fmt(v, digits=4):
    return "-" if v is None else f"{v:.{digits}g}"


def markdown(result):
    title = "## ember against PyTorch on the GPU"
    if result["device"]:
        title += f" ({result['device']})"
    md = [title, "",
          "Median of the timed runs (CUDA events). ratio = ember ms / torch ms: below 1 "
          "ember is faster, 2 means twice PyTorch's time.", "",
          "| row | shape | dtype | ember ms | torch ms | ember TFLOP/s | torch TFLOP/s | ratio |",
          "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        ember_ms = "error" if "ember_error" in r else fmt(r["ember_ms"])
        torch_ms = "error" if "torch_error" in r else fmt(r["torch_ms"])
        md.append(f"| {r['row']} | {r['shape'] or '-'} | {r['dtype'] or '-'} | {ember_ms} | "
                  f"{torch_ms} | {fmt(r['ember_tflops'])} | {fmt(r['torch_tflops'])} | "
                  f"{fmt(r['ratio'], 3)} |")
    errors = [(side, r["row"], r[f"{side}_error"]) for r in result["rows"]
              for side in ("ember", "torch") if f"{side}_error" in r]
    if errors or result["notes"]:
        md += ["", "Notes:"]
        md += [f"- {side} {row}: {err}" for side, row, err in errors]
        md += [f"- {n}" for n in result["notes"]]
    return md


def cmd_join(args):
    join(args.ember, args.torch, args.outdir, args.note or [])
    print(open(os.path.join(args.outdir, "gpu_bench.md")).read(), end="")
    return 0


def selftest():
    def line(name, impl, ms, tflops=None, **extra):
        r = {"row": name, "impl": impl, "device": "cuda", "shape": "s", "dtype": "bf16",
             "warmup": 1, "runs": 3, "ms": ms, "min_ms": ms * 0.9}
        r.update(extra)
        if tflops is not None:
            r["tflops"] = tflops
        return json.dumps(r)

    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    def tflops_of(name, shape, ms):
        return expected_flops(name, shape) / (ms * 1e-3) / 1e12

    shapes = {"matmul": "64x64x64", "sdpa": "B1 H2 T48 D32", "train": "batch 2"}
    full = [line(n, "ember", 2.0, tflops_of(n, shapes[n.split("_")[0]], 2.0) if f else None,
                 shape=shapes[n.split("_")[0]]) for n, f in ROWS]
    rows, problems = parse_lines("\n".join(full))
    expect(not problems and not check_rows(rows, "ember"),
           f"a full set fails: {problems + check_rows(rows, 'ember')}")
    expect(check_rows(rows, "torch"), "the wrong impl passes")
    bad = full[:-1] + [json.dumps({"row": "train_step_f32", "impl": "ember", "error": "boom"})]
    expect(any("boom" in p for p in check_rows(parse_lines("\n".join(bad))[0])),
           "an error row passes")
    expect(any("missing" in p for p in check_rows(parse_lines("\n".join(full[1:]))[0])),
           "a missing row passes")
    zero = [line("matmul_bf16", "ember", 0.0, 1.0, shape="64x64x64")] + full[1:]
    expect(check_rows(parse_lines("\n".join(zero))[0]), "ms 0 passes")
    # A FLOP count that is not the row's (the causal forward not halved).
    causal = tflops_of("sdpa_bf16_fwd", "B1 H2 T48 D32", 2.0)
    wrong = [x if json.loads(x)["row"] != "sdpa_bf16_fwd_causal" else
             line("sdpa_bf16_fwd_causal", "ember", 2.0, causal, shape="B1 H2 T48 D32")
             for x in full]
    expect(any("FLOPs" in p for p in check_rows(parse_lines("\n".join(wrong))[0])),
           "a wrong FLOP count passes")
    expect(expected_flops("sdpa_bf16_fwd_bwd_causal", "B4 H16 T2048 D128")
           == 4 * 4 * 16 * 2048 ** 2 * 128 * 0.5 * 3.5, "the attention FLOP formula")
    expect(parse_lines("not json\n")[1], "a non-JSON line passes")
    with tempfile.TemporaryDirectory() as d:
        e, t = os.path.join(d, "e.jsonl"), os.path.join(d, "t.jsonl")
        error_row = json.dumps({"row": "sdpa_bf16_fwd", "impl": "ember", "error": "oom"})
        open(e, "w").write(line("matmul_bf16", "ember", 2.0, 60.0) + "\n" + error_row + "\n")
        open(t, "w").write(line("matmul_bf16", "torch", 0.5, 240.0, device_name="GPU X") + "\n")
        res = join(e, t, os.path.join(d, "out"))
        by = {r["row"]: r for r in res["rows"]}
        expect(abs(by["matmul_bf16"]["ratio"] - 4.0) < 1e-12,
               f"ratio {by['matmul_bf16']['ratio']}")
        expect(by["sdpa_bf16_fwd"]["ember_error"] == "oom"
               and by["sdpa_bf16_fwd"]["ratio"] is None, "an error row joins wrong")
        md = open(os.path.join(d, "out", "gpu_bench.md")).read()
        expect("| matmul_bf16 | s | bf16 | 2 | 0.5 | 60 | 240 | 4 |" in md,
               "markdown row:\n" + md)
        expect("GPU X" in md and "oom" in md, "markdown lacks the device or the error")
        expect(not res["notes"], f"notes on a clean join: {res['notes']}")
        res = join(os.path.join(d, "absent.jsonl"), t, os.path.join(d, "out4"))
        expect(res["rows"][0]["shape"] == "s" and res["rows"][0]["ember_ms"] is None,
               f"a torch-only row: {res['rows'][0]}")
        t2 = os.path.join(d, "t2.jsonl")
        open(t2, "w").write(line("matmul_bf16", "torch", 0.5, 240.0, shape="other") + "\n")
        res = join(e, t2, os.path.join(d, "out3"))
        expect(any("not the same workload" in n for n in res["notes"]), "a shape mismatch passes")
        res = join(e, os.path.join(d, "absent.jsonl"), os.path.join(d, "out2"), ["torch missing"])
        expect(res["rows"][0]["torch_ms"] is None and "torch missing" in res["notes"]
               and any("absent.jsonl" in n for n in res["notes"]), f"no-torch join: {res}")
    for f in failures:
        print(f"rows.py selftest: FAIL: {f}", file=sys.stderr)
    print(f"rows.py selftest: {len(failures)} failures", file=sys.stderr)
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("check")
    c.add_argument("--impl", choices=["ember", "torch"])
    c.add_argument("cmd", nargs=argparse.REMAINDER)
    j = sub.add_parser("join")
    j.add_argument("ember")
    j.add_argument("torch")
    j.add_argument("outdir")
    j.add_argument("--note", action="append")
    sub.add_parser("selftest")
    args = p.parse_args()
    if args.what == "check":
        return cmd_check(args)
    if args.what == "join":
        return cmd_join(args)
    return selftest()


if __name__ == "__main__":
    sys.exit(main())
