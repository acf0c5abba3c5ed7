// conv2d of the cpu backend: forward, backward-input and backward-weight as im2col + GEMM
// (the geometry, im2col and col2im in conv2d_im2col.h; the fused backward in
// conv2d_backward.cpp).
//
// Math (groups G, Cg = C/G input and Kg = K/G output channels per group; g = k / Kg):
//   out[n, k, p, q] = bias[k] + sum_{c < Cg, r, s} w[k, c, r, s] *
//                     x[n, g Cg + c, p sh - ph + r dh, q sw - pw + s dw]   (0 outside x)
// Per image n and group g this is one GEMM over the "column" matrix of the image,
//   col (Cg R S, P Q):  col[(c, r, s), (p, q)] = x[n, g Cg + c, h(p, r), w(q, s)]
//   forward          out_ng (Kg, PQ)    = W_g (Kg, CgRS) @ col (CgRS, PQ)
//   backward-input   dcol   (CgRS, PQ)  = W_g^T @ dout_ng (Kg, PQ), then dx += col2im(dcol)
//   backward-weight  dW_g   (Kg, CgRS) += dout_ng (Kg, PQ) @ col^T
// Shapes: x (N, C, H, W), w (K, Cg, R, S), bias (K), out (N, K, P, Q), all contiguous,
// P = (H + 2 ph - dh (R - 1) - 1) / sh + 1 and Q likewise.
//
// Work split: the PQ columns of an image are cut into chunks whose col block
// (CgRS x chunk) fits in L2 (kColBytes), so im2col writes it and the GEMM reads it while
// it is hot; the scratch is bounded by one chunk per thread, never a whole image. Tasks
// without a reduction across them are handed out dynamically, so a thread that loses its
// core to another process does not hold the others back; accumulating ones are static.
//   forward:         OpenMP over (n, g, chunk) tasks, each a disjoint block of out.
//   backward-input:  OpenMP over (n, g, channel block): a channel block's dx rows get
//                    contributions only from its own col rows, so tasks never collide;
//                    the channels are cut into blocks only when N G is below the thread count.
//   backward-weight: OpenMP over (n, g, chunk) tasks into one dW accumulator per thread,
//                    summed in thread order at the end (deterministic for a thread count).
//   backward, fused (conv2d_backward.cpp, what autograd calls): OpenMP over (n, g)
//                    tasks, each chunk of dout read from L2 by the bias sums, the weight
//                    GEMM and the input GEMM + col2im; dW and db accumulate per thread as
//                    above. One parallel region, no barrier inside it: under OpenMP's
//                    passive wait policy every region and barrier wakes sleeping threads
//                    (conv_seed_fwdbwd: 1.53 -> 1.37 ms with the bias reduction folded in).
// Each GEMM runs on the calling thread: f32 on ember's packed GEMM (gemm_packed.h) where
// the build has its micro-kernel, f64 (and f32 without it) on Eigen.
// A 1x1 kernel with stride 1 and no padding skips im2col: col is x itself.
// Stride-2 runs of im2col and col2im go through vector gathers (kernels/cpu/strided_runs.h);
// both prefetch the next channel's input plane.
// Versions: a 3x3, stride-1, undilated convolution with at least kWinogradMinChannels
// input and output channels per group goes to Winograd F(4x4, 3x3) instead
// (conv2d_winograd.cpp: half the multiply-adds), for the forward, the weight gradient, and
// the input gradient (a forward convolution of grad_out by the rotated filters, padding
// 2 - p, when p <= 2); images of up to 28 columns take its channel-vectorized layout
// (conv2d_winograd_channels.cpp).
//
// Cost per call (F = sizeof(T)):
//   FLOPs: forward 2 N K PQ CgRS (+ N K PQ for the bias); backward-input and
//          backward-weight 2 N K PQ CgRS each.
//   Bytes (minimum): forward F (NCHW + K CgRS + NKPQ); backward-input F (NKPQ + K CgRS +
//          NCHW); backward-weight F (NKPQ + NCHW + K CgRS). im2col adds F N G CgRS PQ
//          written and read back, mostly from L2.
// Preconditions (checked by tensor/raw_nn.cpp): f32 or f64, every size > 0 except that N
// may be anything (the caller skips empty outputs), C = G Cg, K = G Kg, P, Q >= 1.
#include <omp.h>

#include <Eigen/Core>

#include <algorithm>

#include "kernels/cpu/conv2d_im2col.h"
#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/widen.h"

namespace ember::cpu {

namespace {

using namespace dense;  // NOLINT: the kernels' shared helpers

using namespace conv_im2col;  // NOLINT: im2col, col2im and the geometry

template <typename T>
void forward(const Geom& g, const T* x, const T* w, const T* bias, T* out) {
  if (winograd_fits(g, g.Cg, g.Kg)) return winograd_forward(winograd_geom(g), x, w, bias, out);
  const int64_t rows = g.rows(), cols = g.cols();
  const int64_t nc_max = chunk_cols(g, sizeof(T));
  const int64_t nchunks = ceil_div(cols, nc_max);
  const int64_t tasks = g.N * g.G * nchunks;
  const bool pointwise = g.pointwise();
  // The bias as one more step of the GEMM's depth: a column of W' = [W_g | bias] (Kg,
  // rows + 1) against a row of ones under col, so that o is written once, by the GEMM,
  // instead of filled with the bias first and read back (a fifth of the seed's forward).
  // Without a bias the GEMM writes o alone; a 1x1 layer (no col) fills the bias first.
  const bool fold_bias = bias != nullptr && !pointwise;
  const int64_t depth = rows + (fold_bias ? 1 : 0);
  auto wb = scratch<T>(fold_bias ? g.K * depth : 0);
  if (fold_bias) {
    for (int64_t k = 0; k < g.K; ++k) {
      std::copy_n(w + k * rows, rows, wb.get() + k * depth);
      wb[static_cast<size_t>(k * depth + rows)] = bias[k];
    }
  }
  const T* wd = fold_bias ? wb.get() : w;  // (K, depth)
#pragma omp parallel if (go_parallel(g, tasks))
  {
    auto col = scratch<T>(pointwise ? 0 : depth * nc_max);  // (depth, nc) of this thread
#pragma omp for schedule(dynamic, 1) nowait                 // the region's join is the barrier
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t chunk = t % nchunks, ng = t / nchunks, grp = ng % g.G, n = ng / g.G;
      const int64_t j0 = chunk * nc_max, nc = std::min(nc_max, cols - j0);
      const T* xg = x + (n * g.C + grp * g.Cg) * g.H * g.W;    // (Cg, H, W)
      const Operand<T> wg{wd + grp * g.Kg * depth, depth, 1};  // (Kg, depth)
      T* o = out + (n * g.K + grp * g.Kg) * cols + j0;         // (Kg, nc), rows `cols` apart
      if (pointwise) {
        if (bias != nullptr) {  // the GEMM accumulates onto the bias
          for (int64_t k = 0; k < g.Kg; ++k) std::fill_n(o + k * cols, nc, bias[grp * g.Kg + k]);
        }
        gemm<T>(o, cols, wg, {xg + j0, cols, 1}, g.Kg, nc, rows, bias != nullptr);
      } else {
        im2col(g, xg, g.Cg, j0, nc, col.get());
        if (fold_bias) std::fill_n(col.get() + rows * nc, nc, T(1));
        gemm<T>(o, cols, wg, {col.get(), nc, 1}, g.Kg, nc, depth, false);
      }
    }
  }
}

// The input gradient of a stride-1 3x3 convolution is the convolution of gout (N, K, P, Q)
// with the filters rotated by 180 degrees and transposed, wt (C, Kg, 3, 3), padded 2 - p.
template <typename T>
void backward_input_winograd(const Geom& g, const T* gout, const T* w, T* gx) {
  auto wt = scratch<T>(g.C * g.Kg * 9);
  for (int64_t grp = 0; grp < g.G; ++grp)
    for (int64_t k = 0; k < g.Kg; ++k)
      for (int64_t c = 0; c < g.Cg; ++c)
        for (int64_t rs = 0; rs < 9; ++rs)
          wt[static_cast<size_t>(((grp * g.Cg + c) * g.Kg + k) * 9 + (8 - rs))] =
              w[((grp * g.Kg + k) * g.Cg + c) * 9 + rs];
  winograd_forward<T>({g.N, g.K, g.P, g.Q, g.C, g.G, 2 - g.ph, 2 - g.pw}, gout, wt.get(), nullptr,
                      gx);
}

template <typename T>
void backward_input(const Geom& g, const T* gout, const T* w, T* gx) {
  if (winograd_fits(g, g.Kg, g.Cg) && g.ph <= 2 && g.pw <= 2)
    return backward_input_winograd(g, gout, w, gx);
  const int64_t rows = g.rows(), cols = g.cols(), RS = g.R * g.S;
  const int64_t nc_max = chunk_cols(g, sizeof(T));
  // Channel blocks only when images x groups cannot keep every thread busy.
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t cblocks = g.N * g.G >= threads ? 1 : std::min(g.Cg, ceil_div(threads, g.N * g.G));
  const int64_t cb_size = ceil_div(g.Cg, cblocks);
  const int64_t tasks = g.N * g.G * cblocks;
  const bool pointwise = g.pointwise();
#pragma omp parallel if (go_parallel(g, tasks))
  {
    auto dcol = scratch<T>(pointwise ? 0 : cb_size * RS * nc_max);  // (cb RS, nc)
#pragma omp for schedule(dynamic, 1) nowait  // the region's join is the barrier
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t cb = t % cblocks, ng = t / cblocks, grp = ng % g.G, n = ng / g.G;
      const int64_t c0 = cb * cb_size, nch = std::min(cb_size, g.Cg - c0);
      if (nch <= 0) continue;
      T* dx = gx + (n * g.C + grp * g.Cg + c0) * g.H * g.W;  // (nch, H, W)
      if (!pointwise) std::fill_n(dx, nch * g.H * g.W, T(0));
      // W_g^T restricted to this block's channels: (nch RS, Kg).
      const Operand<T> wgt{w + grp * g.Kg * rows + c0 * RS, 1, rows};
      for (int64_t j0 = 0; j0 < cols; j0 += nc_max) {
        const int64_t nc = std::min(nc_max, cols - j0);
        const Operand<T> go{gout + (n * g.K + grp * g.Kg) * cols + j0, cols, 1};  // (Kg, nc)
        if (pointwise) {
          gemm<T>(dx + j0, cols, wgt, go, nch, nc, g.Kg, false);
        } else {
          gemm<T>(dcol.get(), nc, wgt, go, nch * RS, nc, g.Kg, false);
          col2im_add(g, dcol.get(), nch, j0, nc, dx);
        }
      }
    }
  }
}

template <typename T>
void backward_weight(const Geom& g, const T* gout, const T* x, T* gw) {
  if (winograd_fits(g, g.Cg, g.Kg)) return winograd_backward_weight(winograd_geom(g), gout, x, gw);
  const int64_t rows = g.rows(), cols = g.cols();
  const int64_t wsize = g.K * rows;
  const int64_t nc_max = chunk_cols(g, sizeof(T));
  const int64_t nchunks = ceil_div(cols, nc_max);
  const int64_t tasks = g.N * g.G * nchunks;
  const bool pointwise = g.pointwise();
  const bool parallel = go_parallel(g, tasks);
  const int64_t max_threads = parallel ? omp_get_max_threads() : 1;
  // One dW per thread beyond the first, which accumulates into gw itself.
  auto extra = scratch<T>((max_threads - 1) * wsize);
  std::fill_n(gw, wsize, T(0));
  std::fill_n(extra.get(), (max_threads - 1) * wsize, T(0));
#pragma omp parallel if (parallel)
  {
    const int64_t tid = omp_get_thread_num();
    const int64_t team = omp_get_num_threads();  // the same in every thread: no single, no barrier
    T* acc = tid == 0 ? gw : extra.get() + (tid - 1) * wsize;
    auto col = scratch<T>(pointwise ? 0 : rows * nc_max);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t chunk = t % nchunks, ng = t / nchunks, grp = ng % g.G, n = ng / g.G;
      const int64_t j0 = chunk * nc_max, nc = std::min(nc_max, cols - j0);
      const T* xg = x + (n * g.C + grp * g.Cg) * g.H * g.W;
      const Operand<T> go{gout + (n * g.K + grp * g.Kg) * cols + j0, cols, 1};  // (Kg, nc)
      T* dw = acc + grp * g.Kg * rows;                                          // (Kg, rows)
      if (pointwise) {
        gemm<T>(dw, rows, go, {xg + j0, 1, cols}, g.Kg, rows, nc, true);
      } else {
        im2col(g, xg, g.Cg, j0, nc, col.get());
        gemm<T>(dw, rows, go, {col.get(), 1, nc}, g.Kg, rows, nc, true);
      }
    }
    // The implicit barrier above ends every accumulation; now sum the extra dWs into gw.
#pragma omp for schedule(static)
    for (int64_t e = 0; e < wsize; ++e) {
      T s = gw[e];
      for (int64_t k = 1; k < team; ++k) s += extra[static_cast<size_t>((k - 1) * wsize + e)];
      gw[e] = s;
    }
  }
}

}  // namespace

// bf16/f16 (issue 16): the operands widened to f32, the f32 kernel (im2col or Winograd),
// the result rounded once: PyTorch's cpu convolution computes halves in f32 too.
void CpuBackend::conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w,
                                const Tensor& bias, const Conv2dParams& p) {
  const FlushDenormals flush;
  if (is_half(out.dtype())) {
    const Tensor wide = wide_output(out);
    conv2d_forward(wide, widened(*this, x), widened(*this, w),
                   bias.defined() ? widened(*this, bias) : bias, p);
    return copy(out, wide);
  }
  const Geom g = make_geom(x.sizes(), w.sizes(), out.sizes(), p);
  dense::dispatch_floating(out, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    forward<T>(g, dense::in_ptr<T>(x), dense::in_ptr<T>(w), dense::in_ptr<T>(bias),
               dense::out_ptr<T>(out));
  });
}

void CpuBackend::conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out,
                                       const Tensor& w, const Conv2dParams& p) {
  const FlushDenormals flush;
  if (is_half(grad_x.dtype())) {  // f32 operands, one rounding (issue 16)
    const Tensor wide = wide_output(grad_x);
    conv2d_backward_input(wide, widened(*this, grad_out), widened(*this, w), p);
    return copy(grad_x, wide);
  }
  const Geom g = make_geom(grad_x.sizes(), w.sizes(), grad_out.sizes(), p);
  dense::dispatch_floating(grad_x, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    backward_input<T>(g, dense::in_ptr<T>(grad_out), dense::in_ptr<T>(w),
                      dense::out_ptr<T>(grad_x));
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_out,
                                        const Tensor& x, const Conv2dParams& p) {
  const FlushDenormals flush;
  if (is_half(grad_w.dtype())) {  // f32 operands, one rounding (issue 16)
    const Tensor wide = wide_output(grad_w);
    conv2d_backward_weight(wide, widened(*this, grad_out), widened(*this, x), p);
    return copy(grad_w, wide);
  }
  const Geom g = make_geom(x.sizes(), grad_w.sizes(), grad_out.sizes(), p);
  dense::dispatch_floating(grad_w, "conv2d", [&](auto tag) {
    using T = decltype(tag);
    backward_weight<T>(g, dense::in_ptr<T>(grad_out), dense::in_ptr<T>(x),
                       dense::out_ptr<T>(grad_w));
  });
}

}  // namespace ember::cpu
