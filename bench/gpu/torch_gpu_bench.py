#!/usr/bin/env python3
"""PyTorch's side of ember_gpu_bench: the same rows, timed the same way (docs/gpu.md).

  python3 torch_gpu_bench.py [--device cuda|cpu] [--cpu] [--small] [--dry-run]
                             [--groups matmul,sdpa,train_step] [--warmup N] [--runs N]

Prints one JSON line per row, with ember_gpu_bench's row names, shapes, FLOP counts,
warm-ups and runs (bench/gpu/rows.h); bench/gpu/rows.py joins the two. On cuda each timed
run sits between two torch.cuda.Event records on the current stream, the runs queued back
to back and read after one synchronization; the row's ms is their median. On cpu (--cpu)
each run is timed by the host clock. --small: ember_gpu_bench's tiny shapes; --dry-run:
--cpu --small, to check the script where there is no GPU. Exit status 0 when every row
was timed, 1 when one failed (its line carries "error"), 2 for a bad command line.
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

# The shapes and counts of bench/gpu/rows.h (Sizes) and main.cpp (Sizes::small).
FULL = dict(matmul_n=4096, attn=(4, 16, 2048, 128), batch=32,
            matmul=(10, 50), attn_counts=(5, 20), step=(10, 50))
SMALL = dict(matmul_n=64, attn=(1, 2, 48, 32), batch=2,
             matmul=(1, 3), attn_counts=(1, 3), step=(0, 1))

# The main job's vocabulary (examples/captioning/dataset.h): <pad> <bos> <eos>, 6 colours,
# 4 shapes, 3 rows, 3 columns; a caption is 6 tokens, the model sees 5.
VOCAB = 19
CAPTION_INPUT = 5


def time_runs(device, warmup, runs, fn):
    """Milliseconds of each timed run, after `warmup` runs (ember's timing.h)."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                 for _ in range(runs)]
        for start, end in pairs:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(device)
        return [start.elapsed_time(end) for start, end in pairs]
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return ms


class Row:
    def __init__(self, row, shape, dtype, flops, counts):
        self.row, self.shape, self.dtype, self.flops = row, shape, dtype, flops
        self.warmup, self.runs = counts
        self.ms, self.error = [], None

    def json(self, device, device_name):
        j = {"row": self.row, "impl": "torch", "device": device.type, "shape": self.shape,
             "dtype": self.dtype, "warmup": self.warmup, "runs": self.runs,
             "torch": torch.__version__}
        if device_name:
            j["device_name"] = device_name
        if self.error is not None:
            j["error"] = self.error
            return j
        ms = statistics.median(self.ms)
        j["ms"], j["min_ms"] = ms, min(self.ms)
        if self.flops > 0 and ms > 0:
            j["tflops"] = self.flops / (ms * 1e-3) / 1e12
        return j


def timed(row, device, make, fn):
    """Times fn(state) with state = make() into row, or records what it raised."""
    try:
        state = make()
        row.ms = time_runs(device, row.warmup, row.runs, lambda: fn(state))
    except Exception as e:  # one failing row leaves the others
        row.error = f"{type(e).__name__}: {e}"
    finally:
        state = None
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


def set_tf32(on):
    # "high" lets float32 matmuls use TF32, "highest" does not (PyTorch's default).
    torch.set_float32_matmul_precision("high" if on else "highest")


def matmul_rows(device, s):
    n = s["matmul_n"]
    for name, dtype_name, dtype, tf32 in (("matmul_bf16", "bf16", torch.bfloat16, False),
                                          ("matmul_f32", "f32", torch.float32, False),
                                          ("matmul_f32_tf32", "f32 tf32", torch.float32, True)):
        row = Row(name, f"{n}x{n}x{n}", dtype_name, 2.0 * n ** 3, s["matmul"])
        set_tf32(tf32)
        try:
            yield timed(row, device,
                        lambda: (torch.randn(n, n, dtype=dtype, device=device),
                                 torch.randn(n, n, dtype=dtype, device=device)),
                        lambda ab: ab[0] @ ab[1])
        finally:
            set_tf32(False)


def attention_rows(device, s):
    b, h, t, d = s["attn"]
    forward_flops = 4.0 * b * h * t * t * d
    for backward in (False, True):
        for causal in (False, True):
            name = "sdpa_bf16_fwd_bwd" if backward else "sdpa_bf16_fwd"
            name += "_causal" if causal else ""
            flops = forward_flops * (0.5 if causal else 1.0) * (3.5 if backward else 1.0)
            row = Row(name, f"B{b} H{h} T{t} D{d}", "bf16", flops, s["attn_counts"])

            def make(backward=backward):
                qkv = [torch.randn(b, h, t, d, dtype=torch.bfloat16, device=device,
                                   requires_grad=backward) for _ in range(3)]
                return qkv + [torch.randn(b, h, t, d, dtype=torch.bfloat16, device=device)]

            def run(st, backward=backward, causal=causal):
                q, k, v, dout = st
                y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                if backward:
                    q.grad = k.grad = v.grad = None  # one forward and one backward per run
                    y.backward(dout)

            yield timed(row, device, make, run)


# ---- the main job's model (examples/seed_models.h, examples/captioning/model.h) ----------

class ImageEncoder(nn.Module):
    """Conv 3->64 (3x3) on 32x32 images, flattened into a 128-wide code."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3)
        self.linear = nn.Linear(64 * 30 * 30, 128)

    def forward(self, x):
        return self.linear(self.conv(x).flatten(1))


class CausalAttentionBlock(nn.Module):
    """Query/key/value projections, matmul, masked softmax, matmul (not fused, as ember's)."""

    def __init__(self, dim=128):
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(dim, dim) for _ in range(3))
        self.future = None

    def forward(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)
        t = x.size(1)
        scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(x.size(-1)))
        if self.future is None or self.future.size(0) != t or self.future.device != x.device:
            pos = torch.arange(t, device=x.device)
            self.future = pos.unsqueeze(0) > pos.unsqueeze(1)  # key j after query i
        scores = scores.masked_fill(self.future, -1e9)
        return torch.softmax(scores, -1) @ v


class CausalAttentionDecoder(nn.Module):
    def __init__(self, vocab, dim=128):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.attention = CausalAttentionBlock(dim)
        self.linear = nn.Linear(dim, vocab)

    def forward(self, code, text):
        h = self.embedding(text) + code.unsqueeze(1)
        return self.linear(h + self.attention(h))


class CaptionModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_encoder = ImageEncoder()
        self.text_decoder = CausalAttentionDecoder(VOCAB)

    def forward(self, image, text):
        return self.text_decoder(self.image_encoder(image), text)


def train_step_rows(device, s):
    n = s["batch"]
    for mixed in (True, False):
        row = Row("train_step_bf16_mixed" if mixed else "train_step_f32", f"batch {n}",
                  "bf16-mixed" if mixed else "f32", 0.0, s["step"])

        def make():
            torch.manual_seed(0)
            model = CaptionModule().to(device).train()
            # The main job's configure_optimizers: lr 2e-3, the encoder at a tenth.
            opt = torch.optim.Adam([
                {"params": model.image_encoder.parameters(), "lr": 2e-3 * 0.1},
                {"params": model.text_decoder.parameters(), "lr": 2e-3}])
            image = torch.randn(n, 3, 32, 32, device=device)
            text = torch.randint(0, VOCAB, (n, CAPTION_INPUT), device=device)
            target = torch.randint(0, VOCAB, (n, CAPTION_INPUT), device=device)
            return model, opt, image, text, target

        def step(st, mixed=mixed):
            model, opt, image, text, target = st
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=mixed):
                loss = F.cross_entropy(model(image, text).transpose(1, 2), target)
            loss.backward()
            opt.step()

        yield timed(row, device, make, step)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--cpu", action="store_true", help="--device cpu")
    p.add_argument("--small", action="store_true", help="tiny shapes and few runs")
    p.add_argument("--dry-run", action="store_true", help="--cpu --small")
    p.add_argument("--groups", default="matmul,sdpa,train_step")
    p.add_argument("--warmup", type=int)
    p.add_argument("--runs", type=int)
    args = p.parse_args()
    if args.cpu or args.dry_run:
        args.device = "cpu"
    groups = [g for g in args.groups.split(",") if g]
    for g in groups:
        if g not in ("matmul", "sdpa", "train_step"):
            p.error(f"--groups takes matmul, sdpa and train_step, not {g}")
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        p.error("--warmup must be at least 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("torch_gpu_bench: torch sees no GPU (torch.cuda.is_available() is False)",
              file=sys.stderr)
        return 1
    s = dict(SMALL if args.small or args.dry_run else FULL)
    for key in ("matmul", "attn_counts", "step"):
        w, r = s[key]
        s[key] = (w if args.warmup is None else args.warmup, r if args.runs is None else args.runs)
    device = torch.device(args.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    failed = False
    for g in groups:
        # Each row is printed (and flushed) as soon as it is timed: a run cut short by a
        # time limit still leaves the rows before it.
        rows = {"matmul": matmul_rows, "sdpa": attention_rows, "train_step": train_step_rows}[g]
        for r in rows(device, s):
            failed = failed or r.error is not None
            print(json.dumps(r.json(device, device_name)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
