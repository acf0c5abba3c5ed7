// The launchers of kernels/cuda: what host code (the backend, kernels/cuda/backend.cpp)
// calls with raw device pointers, dtypes and sizes. Each computes its grid, launches
// its kernels through launch() and checks them; none sees a Tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/cuda/geometry.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/scalar.h"

namespace ember::EMBER_VARIANT {

// ---- elementwise.cu: `contiguous` means every operand has unit stride (g.ndim == 1) ----
void launch_copy(DType out_dtype, DType in_dtype, const Geometry<2>& g, bool contiguous, void* out,
                 const void* in);
void launch_fill(DType dtype, const Geometry<1>& g, bool contiguous, void* out, const Scalar& value);
void launch_unary(UnaryOp op, DType in_dtype, const Geometry<2>& g, bool contiguous, void* out,
                  const void* in, double arg);
// a and b have `dtype`; out has it too, or bool for comparisons and logical ops.
void launch_binary(BinaryOp op, DType dtype, const Geometry<3>& g, bool contiguous, void* out,
                   const void* a, const void* b);
void launch_where(DType dtype, const Geometry<4>& g, bool contiguous, void* out, const void* cond,
                  const void* a, const void* b);

// ---- reduce.cu: rows of the contiguous (rows, cols) `in` into out (rows) ----
void launch_reduce(ReduceOp op, DType dtype, void* out, int64_t* indices, const void* in,
                   int64_t rows, int64_t cols, int64_t correction);

// ---- softmax.cu: rows of the contiguous (rows, cols) `in` into out (rows, cols) ----
void launch_softmax(DType dtype, void* out, const void* in, int64_t rows, int64_t cols, bool log);

// ---- matmul.cu: out (batch, m, n) contiguous = a (batch, m, k) @ b (batch, k, n) ----
struct GemmShape {
  int64_t batch, m, n, k;
  int64_t a_batch, a_row, a_col;  // strides of a, in elements (batch stride 0: broadcast)
  int64_t b_batch, b_row, b_col;
};
void launch_gemm_tiled(DType dtype, const GemmShape& s, void* out, const void* a, const void* b);

// ---- attention.cu: fused attention (tensor/backend.h's contract), q (B, H, Tq, D),
// k (B, H, Tk, D), v (B, H, Tk, Dv), out/dout (B, H, Tq, Dv), lse (B, H, Tq) contiguous;
// mask additive (B, H, Tq, Tk) through strides (ms0, ms1, ms2, unit along keys) or null ----
struct AttentionArgs {
  int64_t B, H, Tq, Tk;
  int D, Dv;
  int64_t ms0, ms1, ms2;
  double scale;
  bool causal;
  bool dropout;                       // dropout_p > 0
  uint64_t seed, offset, threshold;  // philox::dropout_keep's arguments
  double keep_scale;                  // 1 / (1 - p), 0 for p = 1
};
void launch_attention_forward(DType dtype, const AttentionArgs& a, void* out, void* lse, const void* q,
                              const void* k, const void* v, const void* mask);
void launch_attention_backward(DType dtype, const AttentionArgs& a, void* dq, void* dk, void* dv,
                               const void* dout, const void* q, const void* k, const void* v, const void* out,
                               const void* lse, const void* mask);

// ---- random.cu: out[i] = dist(philox(seed, offset, i)) for i < n, as tensor/philox.h ----
void launch_random(DType dtype, RandomDist dist, void* out, int64_t n, uint64_t seed, uint64_t offset,
                   double a, double b);

// ---- index.cu: index values are checked on the device; a bad one throws IndexError ----
// out (outer, n, inner) = in (outer, size, inner) at index (n) along the middle dim.
void launch_index_select(size_t element_size, void* out, const void* in, const int64_t* index,
                         int64_t outer, int64_t size, int64_t n, int64_t inner, int64_t dim);
// Over the index's shape: operand 0 is out, 1 the index, 2 `in` (gather) or `src`
// (scatter_add). The indexed operand's stride along `dim` is 0 in g and given apart.
void launch_gather(DType dtype, const Geometry<3>& g, void* out, const int64_t* index, const void* in,
                   int64_t dim, int64_t dim_size, int64_t dim_stride);
void launch_scatter_add(DType dtype, const Geometry<3>& g, void* out, const int64_t* index,
                        const void* src, int64_t dim, int64_t dim_size, int64_t dim_stride);

// ---- optim.cu: multi-tensor steps and norms over a group of tensors of one dtype ----
// Pointers are device pointers to `n` contiguous elements; null where a state is absent.
struct AdamSlot {
  void* param;
  const void* grad;
  void* exp_avg;
  void* exp_avg_sq;
  void* max_exp_avg_sq;
  int64_t n;
  double step_size;     // lr / (1 - beta1^step)
  double inv_bc2_sqrt;  // 1 / sqrt(1 - beta2^step)
};
struct SgdSlot {
  void* param;
  const void* grad;
  void* momentum_buffer;
  int64_t n;
  bool first_step;
};
struct NormSlot {
  const void* data;
  int64_t n;
};
void launch_adam_multi_tensor(DType dtype, const std::vector<AdamSlot>& slots, const AdamStepParams& p);
void launch_sgd_multi_tensor(DType dtype, const std::vector<SgdSlot>& slots, const SgdStepParams& p);
// *out (device) = sum of |x|^norm_type over every element (max |x| for norm_type = inf).
void launch_norm_multi_tensor(DType dtype, const std::vector<NormSlot>& slots, double norm_type, double* out);

// ---- conv2d.cu: implicit-GEMM convolution, all tensors contiguous, f32 or f64 ----
// x (N, C, H, W), w (K, C/groups, R, S), bias (K) or null, out (N, K, P, Q). tf32 (f32
// on cuda, sm_80+ only; the caller checks) multiplies on TF32 tensor cores.
struct Conv2dShape {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // filters
  int64_t P, Q;        // output
  Conv2dParams p;      // stride, padding, dilation, groups
};
void launch_conv2d_forward(DType dtype, const Conv2dShape& s, bool tf32, void* out, const void* x, const void* w,
                           const void* bias);
void launch_conv2d_backward_input(DType dtype, const Conv2dShape& s, bool tf32, void* grad_x, const void* grad_out,
                                  const void* w);
void launch_conv2d_backward_weight(DType dtype, const Conv2dShape& s, bool tf32, void* grad_w, const void* grad_out,
                                   const void* x);

}  // namespace ember::EMBER_VARIANT
