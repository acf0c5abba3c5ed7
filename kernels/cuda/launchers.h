// The launchers of kernels/cuda: what host code (the backend, kernels/cuda/backend.cpp)
// calls with raw device pointers, dtypes and sizes. Each computes its grid, launches
// its kernels through launch() and checks them; none sees a Tensor.
#pragma once

#include <cstddef>
#include <cstdint>

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
