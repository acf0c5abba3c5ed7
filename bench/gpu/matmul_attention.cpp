// The kernel rows: matmul (bf16; f32 with and without TF32) and fused attention in bf16
// (forward; forward and backward; causal and not). FLOP counts are the usual ones, the same
// in torch_gpu_bench.py: 2 n^3 for a matmul; 4 B H T^2 D for the attention forward (two
// products of T x T x D per head), halved when causal; the backward 2.5 times the forward.
#include <exception>
#include <functional>
#include <string>

#include "rows.h"
#include "timing.h"

namespace ember::gpubench {

namespace {

// Times fn into a row, or records what it threw: one failing row leaves the others.
Row timed(Row row, Device device, const std::function<void()>& fn) {
  try {
    row.ms = time_runs(device, row.warmup, row.runs, fn);
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  return row;
}

// Restores a process-wide option at scope exit, even when a row throws.
struct Tf32Scope {
  bool saved = backends::cuda::matmul_allow_tf32;
  explicit Tf32Scope(bool on) { backends::cuda::matmul_allow_tf32 = on; }
  ~Tf32Scope() { backends::cuda::matmul_allow_tf32 = saved; }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;
};

}  // namespace

void matmul_rows(Device device, const Sizes& sizes, const Emit& emit) {
  const int64_t n = sizes.matmul_n;
  const std::string shape = std::to_string(n) + "x" + std::to_string(n) + "x" + std::to_string(n);
  const double flops =
      2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  struct Case {
    const char* row;
    const char* dtype_name;
    DType dtype;
    bool tf32;
  };
  for (const Case& c : {Case{"matmul_bf16", "bf16", DType::bf16, false},
                        Case{"matmul_f32", "f32", DType::f32, false},
                        Case{"matmul_f32_tf32", "f32 tf32", DType::f32, true}}) {
    Row row{.row = c.row,
            .shape = shape,
            .dtype = c.dtype_name,
            .flops = flops,
            .warmup = sizes.matmul_warmup,
            .runs = sizes.matmul_runs};
    Tf32Scope tf32(c.tf32);
    Tensor a, b;
    emit(timed(row, device, [&] {
      if (!a.defined()) {  // made inside the row, so an allocation failure is its error
        a = randn({n, n}, {.dtype = c.dtype, .device = device});
        b = randn({n, n}, {.dtype = c.dtype, .device = device});
      }
      Tensor y = a.matmul(b);
    }));
  }
}

void attention_rows(Device device, const Sizes& sizes, const Emit& emit) {
  const int64_t b = sizes.attn_b, h = sizes.attn_h, t = sizes.attn_t, d = sizes.attn_d;
  const std::string shape = "B" + std::to_string(b) + " H" + std::to_string(h) + " T" +
                            std::to_string(t) + " D" + std::to_string(d);
  const double forward_flops = 4.0 * static_cast<double>(b * h) * static_cast<double>(t) *
                               static_cast<double>(t) * static_cast<double>(d);
  const TensorOptions opts{.dtype = DType::bf16, .device = device};
  for (bool backward : {false, true}) {
    for (bool causal : {false, true}) {
      std::string name = backward ? "sdpa_bf16_fwd_bwd" : "sdpa_bf16_fwd";
      if (causal) name += "_causal";
      const double flops = forward_flops * (causal ? 0.5 : 1.0) * (backward ? 3.5 : 1.0);
      Row row{.row = name,
              .shape = shape,
              .dtype = "bf16",
              .flops = flops,
              .warmup = sizes.attn_warmup,
              .runs = sizes.attn_runs};
      Tensor q, k, v, dout;
      emit(timed(row, device, [&] {
        if (!q.defined()) {
          q = randn({b, h, t, d}, opts).requires_grad_(backward);
          k = randn({b, h, t, d}, opts).requires_grad_(backward);
          v = randn({b, h, t, d}, opts).requires_grad_(backward);
          dout = randn({b, h, t, d}, opts);
        }
        Tensor y = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, causal);
        if (backward) {
          // Gradients set to none before each run, as torch_gpu_bench.py does: a run is
          // one forward and one backward, with no accumulation into earlier gradients.
          for (const Tensor* p : {&q, &k, &v}) p->set_grad(Tensor());
          y.backward(dout);
        }
      }));
    }
  }
}

}  // namespace ember::gpubench
