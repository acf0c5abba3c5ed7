// The rows of ember_gpu_bench: each a workload timed on one device, printed as one JSON
// line. bench/gpu/torch_gpu_bench.py times the same rows in PyTorch with the same names,
// shapes, FLOP counts, warm-ups and runs; bench/gpu/rows.py joins the two (docs/gpu.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace ember::gpubench {

// The shapes and run counts: the full ones for a GPU, or --small for sim and cpu.
struct Sizes {
  int64_t matmul_n = 4096;  // (n, n) @ (n, n)
  int64_t attn_b = 4, attn_h = 16, attn_t = 2048, attn_d = 128;
  int64_t batch = 32;  // of the captioning training step
  int matmul_warmup = 10, matmul_runs = 50;
  int attn_warmup = 5, attn_runs = 20;
  int step_warmup = 10, step_runs = 50;

  static Sizes small();
};

struct Row {
  std::string row;    // the row's name, the join key: "matmul_bf16", "sdpa_bf16_fwd_causal"
  std::string shape;  // "4096x4096x4096", "B4 H16 T2048 D128", "batch 32"
  std::string dtype;  // "bf16", "f32", "f32 tf32", "bf16-mixed"
  double flops = 0;   // per run (0: no TFLOP/s, a training step)
  int warmup = 0, runs = 0;
  std::vector<double> ms{};            // per timed run
  std::optional<std::string> error{};  // what the workload threw, instead of times
};

// Each hands its rows (with times, or an error) to `emit` one by one, as each is done: a
// run cut short (a time limit, a crash) still leaves the rows before.
using Emit = std::function<void(const Row&)>;
void matmul_rows(Device device, const Sizes& sizes, const Emit& emit);
void attention_rows(Device device, const Sizes& sizes, const Emit& emit);
void train_step_rows(Device device, const Sizes& sizes, const Emit& emit);

}  // namespace ember::gpubench
