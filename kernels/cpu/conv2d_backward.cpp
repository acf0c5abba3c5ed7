// The fused backward of the im2col convolution (CpuBackend::conv2d_backward, what autograd
// calls; conv2d.cpp's opening comment has the math): the gradients asked for in one
// parallel region over (n, g) tasks, each chunk of dout read from L2 by all three.
// Cost: the FLOPs and bytes of backward-input + backward-weight (conv2d.cpp) + N K PQ adds
// for the bias, with dout read from memory once instead of three times.
#include <omp.h>

#include <algorithm>

#include "kernels/cpu/conv2d_im2col.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/dense.h"

namespace ember::cpu {

namespace {

using namespace dense;        // NOLINT: the kernels' shared helpers
using namespace conv_im2col;  // NOLINT: im2col, col2im and the geometry

// acc[k] += the sum of row k of the (rows, n) block at m (ld between rows), k < rows.
template <typename T>
void add_row_sums(const T* m, int64_t ld, int64_t rows, int64_t n, T* acc) {
  constexpr int kLanes = 16;  // independent partial sums: the loop vectorizes
  for (int64_t k = 0; k < rows; ++k) {
    const T* row = m + k * ld;
    T lane[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= n; j += kLanes)
      for (int l = 0; l < kLanes; ++l) lane[l] += row[j + l];
    T s = 0;
    for (int l = 0; l < kLanes; ++l) s += lane[l];
    for (; j < n; ++j) s += row[j];
    acc[k] += s;
  }
}

// The gradients asked for (gx, gw, gb: null when not) in one parallel region over (n, g)
// tasks. Each chunk of dout is read by all three while it is in L2: its row sums into db,
// dW += dout @ col^T after im2col, then dcol = W^T @ dout into the same col buffer and
// col2im into dx. dW and db accumulate per thread and are summed in thread order, as in
// backward_weight. One region where the separate kernels and the bias reduction take three
// or more: with OpenMP's passive wait policy each region wakes the sleeping threads again.
// Returns false, touching nothing, where a separate kernel does better: a gradient that
// Winograd takes, or too few (n, g) tasks to share among the threads.
template <typename T>
bool backward_fused(const Geom& g, const T* gout, const T* x, const T* w, T* gx, T* gw, T* gb) {
  if ((gx != nullptr && winograd_fits(g, g.Kg, g.Cg) && g.ph <= 2 && g.pw <= 2) ||
      (gw != nullptr && winograd_fits(g, g.Cg, g.Kg)))
    return false;
  const int64_t tasks = g.N * g.G;
  const bool parallel = go_parallel(g, tasks);
  const int64_t max_threads = parallel ? omp_get_max_threads() : 1;
  if (parallel && tasks < 4 * max_threads) return false;
  const int64_t rows = g.rows(), cols = g.cols();
  const int64_t nc_max = chunk_cols(g, sizeof(T));
  const bool pointwise = g.pointwise();
  const int64_t wsize = gw != nullptr ? g.K * rows : 0, bsize = gb != nullptr ? g.K : 0;
  const int64_t part = wsize + bsize;  // one thread's partial dW and db
  auto extra = scratch<T>((max_threads - 1) * part);
  if (gw != nullptr) std::fill_n(gw, wsize, T(0));
  if (gb != nullptr) std::fill_n(gb, bsize, T(0));
  std::fill_n(extra.get(), (max_threads - 1) * part, T(0));
#pragma omp parallel if (parallel)
  {
    const int64_t tid = omp_get_thread_num();
    T* mine = tid == 0 ? nullptr : extra.get() + (tid - 1) * part;
    T* acc_w = tid == 0 ? gw : mine;
    T* acc_b = tid == 0 ? gb : mine + wsize;
    auto col = scratch<T>(pointwise ? 0 : rows * nc_max);
    // No barrier inside the region: the join at its end is the only one.
#pragma omp for schedule(static) nowait
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t grp = t % g.G, n = t / g.G;
      const int64_t in_off = (n * g.C + grp * g.Cg) * g.H * g.W;
      T* dx = gx != nullptr ? gx + in_off : nullptr;  // (Cg, H, W)
      if (dx != nullptr && !pointwise) std::fill_n(dx, g.Cg * g.H * g.W, T(0));
      for (int64_t j0 = 0; j0 < cols; j0 += nc_max) {
        const int64_t nc = std::min(nc_max, cols - j0);
        const T* gob = gout + (n * g.K + grp * g.Kg) * cols + j0;
        const Operand<T> go{gob, cols, 1};  // (Kg, nc)
        if (gb != nullptr) add_row_sums(gob, cols, g.Kg, nc, acc_b + grp * g.Kg);
        if (gw != nullptr) {
          T* dw = acc_w + grp * g.Kg * rows;  // (Kg, rows)
          if (pointwise) {
            gemm<T>(dw, rows, go, {x + in_off + j0, 1, cols}, g.Kg, rows, nc, true);
          } else {
            im2col(g, x + in_off, g.Cg, j0, nc, col.get());
            gemm<T>(dw, rows, go, {col.get(), 1, nc}, g.Kg, rows, nc, true);
          }
        }
        if (dx != nullptr) {
          const Operand<T> wgt{w + grp * g.Kg * rows, 1, rows};  // W_g^T (rows, Kg)
          if (pointwise) {
            gemm<T>(dx + j0, cols, wgt, go, g.Cg, nc, g.Kg, false);
          } else {
            gemm<T>(col.get(), nc, wgt, go, rows, nc, g.Kg, false);
            col2im_add(g, col.get(), g.Cg, j0, nc, dx);
          }
        }
      }
    }
  }
  // The other threads' parts, in thread order (threads the team did not get added zeros).
  // A few thousand elements for a small layer: a second region only for large filters.
#pragma omp parallel for schedule(static) if (parallel && part >= kParallelSumFloats)
  for (int64_t e = 0; e < part; ++e) {
    T* dst = e < wsize ? gw + e : gb + (e - wsize);
    T sum = *dst;
    for (int64_t k = 1; k < max_threads; ++k) sum += extra[static_cast<size_t>((k - 1) * part + e)];
    *dst = sum;
  }
  return true;
}

}  // namespace

// The fused backward for f32 and f64 where it applies (backward_fused); elsewhere, and
// for bf16/f16 (whose kernels widen each operand), the separate kernels.
void CpuBackend::conv2d_backward(const Conv2dBackwardArgs& a, const Conv2dParams& p) {
  const Tensor& go = a.grad_out;
  if (is_half(go.dtype()) || (!a.grad_x.defined() && !a.grad_w.defined()))
    return Backend::conv2d_backward(a, p);
  const FlushDenormals flush;
  const Geom g = make_geom(a.grad_x.defined() ? a.grad_x.sizes() : a.x.sizes(),
                           a.grad_w.defined() ? a.grad_w.sizes() : a.w.sizes(), go.sizes(), p);
  bool done = false;
  dense::dispatch_floating(go, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const auto out = [](const Tensor& t) { return t.defined() ? dense::out_ptr<T>(t) : nullptr; };
    done = backward_fused<T>(g, dense::in_ptr<T>(go), dense::in_ptr<T>(a.x), dense::in_ptr<T>(a.w),
                             out(a.grad_x), out(a.grad_w), out(a.grad_b));
  });
  if (!done) Backend::conv2d_backward(a, p);
}

}  // namespace ember::cpu
