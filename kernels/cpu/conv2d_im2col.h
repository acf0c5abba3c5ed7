// The im2col convolution's shared pieces (conv2d.cpp: forward and the separate
// gradients; conv2d_backward.cpp: the fused backward): the geometry, the column chunks,
// im2col and its adjoint col2im, and when a layer goes to Winograd or to the threads.
// conv2d.cpp's opening comment has the math and the work split.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/strided_runs.h"
#include "tensor/backend_args.h"
#include "tensor/shape.h"

namespace ember::cpu::conv_im2col {

using dense::ceil_div;
using strided_runs::strided_run;

// Target size of one im2col chunk: about half of a core's L2, leaving room for the
// GEMM's packed panels.
constexpr int64_t kColBytes = 512 * 1024;
// How much of the next channel's input plane im2col and col2im prefetch (16 K floats: 64 KiB).
constexpr int64_t kPrefetchFloats = 16 * 1024;
// Below this many multiply-adds a convolution runs on one thread.
constexpr int64_t kParallelMacs = 1 << 16;
// Per-thread partial gradients are summed on one thread below this many floats.
constexpr int64_t kParallelSumFloats = 1 << 16;

struct Geom {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // filters
  int64_t P, Q;        // output
  int64_t G, Cg, Kg;   // groups; input and output channels per group
  int64_t sh, sw, ph, pw, dh, dw;

  int64_t rows() const { return Cg * R * S; }  // im2col rows: the GEMM depth
  int64_t cols() const { return P * Q; }       // output pixels of one image
  // col == x: the im2col of a 1x1, stride-1, unpadded convolution is the input itself.
  bool pointwise() const { return R == 1 && S == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  int64_t macs() const { return N * K * cols() * rows(); }
};

inline Geom make_geom(const Shape& x, const Shape& w, const Shape& out, const Conv2dParams& p) {
  Geom g{};
  g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3];
  g.K = w[0], g.R = w[2], g.S = w[3];
  g.P = out[2], g.Q = out[3];
  g.G = p.groups, g.Cg = w[1], g.Kg = g.K / p.groups;
  g.sh = p.stride_h, g.sw = p.stride_w, g.ph = p.pad_h, g.pw = p.pad_w;
  g.dh = p.dilation_h, g.dw = p.dilation_w;
  return g;
}

// Winograd F(4x4, 3x3) (conv2d_winograd.cpp) pays off over im2col once both channel
// counts of its GEMMs are large enough to amortize the transforms.
constexpr int64_t kWinogradMinChannels = 16;

inline bool winograd_fits(const Geom& g, int64_t in_per_group, int64_t out_per_group) {
  return g.R == 3 && g.S == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         in_per_group >= kWinogradMinChannels && out_per_group >= kWinogradMinChannels;
}

inline WinogradConv winograd_geom(const Geom& g) {
  return {g.N, g.C, g.H, g.W, g.K, g.G, g.ph, g.pw};
}

// Columns per chunk: the col block stays near kColBytes, chunks are balanced, and a
// chunk is a multiple of 16 columns unless it is the whole image.
inline int64_t chunk_cols(const Geom& g, size_t elem) {
  const int64_t cols = g.cols();
  int64_t nc = kColBytes / std::max<int64_t>(1, g.rows() * static_cast<int64_t>(elem));
  nc = std::max<int64_t>(nc, 64);
  if (nc >= cols) return cols;
  const int64_t chunks = ceil_div(cols, nc);
  nc = ceil_div(ceil_div(cols, chunks), 16) * 16;
  return std::min(nc, cols);
}

// The output columns q whose input column q sw + off lies inside [0, W): [lo, hi).
inline void valid_cols(const Geom& g, int64_t off, int64_t* lo, int64_t* hi) {
  *lo = off >= 0 ? 0 : ceil_div(-off, g.sw);
  *hi = g.W - 1 - off < 0 ? 0 : (g.W - 1 - off) / g.sw + 1;
  *lo = std::min(*lo, g.Q);
  *hi = std::clamp(*hi, *lo, g.Q);
}

// Visits the taps (c, r, s) of channels [0, nch) of one image group for a chunk of nc
// columns: tap(xc, dst, r, off, lo, hi), where xc is channel c's input plane, dst the col
// row of (c, r, s), off = s dw - pw the tap's column offset and [lo, hi) the output columns
// q whose input column q sw + off lies inside the row.
template <typename XT, typename CT, typename Fn>
void for_each_tap(const Geom& g, XT* x, int64_t nch, int64_t nc, CT* col, Fn&& tap) {
  const int64_t plane = g.H * g.W;
  for (int64_t c = 0; c < nch; ++c) {
    XT* xc = x + c * plane;
    // The next channel's plane is read (or added to) by the next R S rows of col: ask for
    // it now, so that its first touch does not wait on memory run by run.
    if (c + 1 < nch) {
      const int64_t ahead = std::min<int64_t>(plane, kPrefetchFloats);
      for (int64_t i = 0; i < ahead; i += 16) __builtin_prefetch(xc + plane + i, 1, 2);
    }
    for (int64_t r = 0; r < g.R; ++r) {
      for (int64_t s = 0; s < g.S; ++s) {
        const int64_t off = s * g.dw - g.pw;
        int64_t lo = 0, hi = 0;
        valid_cols(g, off, &lo, &hi);
        tap(xc, col + ((c * g.R + r) * g.S + s) * nc, r, off, lo, hi);
      }
    }
  }
}

// Visits the im2col entries of channels [0, nch) of one image group, output columns
// [j0, j0 + nc), one run per output row p: run(col_ptr, x_row, qa, qb, lo, hi, off), where
// col_ptr is the col entry of (c, r, s) and the run's first column, x_row the input row
// h(p, r) (null when it is padding), [qa, qb) the run's q range, [lo, hi) the q whose
// input column q sw + off lies inside the row.
template <typename XT, typename CT, typename Fn>
void for_each_run(const Geom& g, XT* x, int64_t nch, int64_t j0, int64_t nc, CT* col, Fn&& run) {
  const int64_t p0 = j0 / g.Q, q0 = j0 % g.Q;
  for_each_tap(g, x, nch, nc, col,
               [&](XT* xc, CT* dst, int64_t r, int64_t off, int64_t lo, int64_t hi) {
                 int64_t p = p0, q = q0, left = nc;
                 while (left > 0) {
                   const int64_t run_len = std::min(g.Q - q, left);
                   const int64_t h = p * g.sh - g.ph + r * g.dh;
                   XT* xrow = (h >= 0 && h < g.H) ? xc + h * g.W : nullptr;
                   run(dst, xrow, q, q + run_len, lo, hi, off);
                   dst += run_len;
                   left -= run_len;
                   q = 0;
                   ++p;
                 }
               });
}

// im2col of a chunk of whole output rows (j0 and nc multiples of Q): per tap (c, r, s) the
// valid column range [lo, hi) is the same for every row, so each row is zeros, one strided
// run, zeros, with no per-run bookkeeping. For the strided layers, whose rows are short
// (a ResNet's stride-2 3x3 layers: rows of 14 and 7), where for_each_run's bookkeeping
// cost more than the floats (44% of the 16->32 layer's forward on one thread).
template <typename T>
void im2col_rows(const Geom& g, const T* x, int64_t nch, int64_t j0, int64_t nc, T* col) {
  const int64_t p0 = j0 / g.Q, np = nc / g.Q;
  for_each_tap(g, x, nch, nc, col,
               [&](const T* xc, T* dst, int64_t r, int64_t off, int64_t lo, int64_t hi) {
                 for (int64_t p = p0; p < p0 + np; ++p, dst += g.Q) {
                   const int64_t h = p * g.sh - g.ph + r * g.dh;
                   if (h < 0 || h >= g.H || hi <= lo) {
                     std::fill_n(dst, g.Q, T(0));
                     continue;
                   }
                   for (int64_t q = 0; q < lo; ++q) dst[q] = T(0);
                   strided_run<false>(xc + h * g.W + lo * g.sw + off, dst + lo, hi - lo, g.sw);
                   for (int64_t q = hi; q < g.Q; ++q) dst[q] = T(0);
                 }
               });
}

// col (nch CgRS-rows, nc) = the im2col of x (nch, H, W) for output columns [j0, j0 + nc).
template <typename T>
void im2col(const Geom& g, const T* x, int64_t nch, int64_t j0, int64_t nc, T* col) {
  if (g.sw > 1 && j0 % g.Q == 0 && nc % g.Q == 0) return im2col_rows(g, x, nch, j0, nc, col);
  for_each_run(
      g, x, nch, j0, nc, col,
      [&](T* dst, const T* xrow, int64_t qa, int64_t qb, int64_t lo, int64_t hi, int64_t off) {
        const int64_t n = qb - qa;
        if (xrow == nullptr) {
          std::fill_n(dst, n, T(0));
          return;
        }
        const int64_t a = std::clamp(lo, qa, qb), b = std::clamp(hi, a, qb);
        // The padding at either end is a column or two: no memset calls for those.
        for (int64_t q = qa; q < a; ++q) dst[q - qa] = T(0);
        if (b > a) strided_run<false>(xrow + a * g.sw + off, dst + (a - qa), b - a, g.sw);
        for (int64_t q = b; q < qb; ++q) dst[q - qa] = T(0);
      });
}

// dx (nch, H, W) += col2im(col), the adjoint of im2col.
template <typename T>
void col2im_add(const Geom& g, const T* col, int64_t nch, int64_t j0, int64_t nc, T* dx) {
  for_each_run(
      g, dx, nch, j0, nc, col,
      [&](const T* src, T* xrow, int64_t qa, int64_t qb, int64_t lo, int64_t hi, int64_t off) {
        if (xrow == nullptr) return;
        const int64_t a = std::clamp(lo, qa, qb), b = std::clamp(hi, a, qb);
        if (b > a) strided_run<true>(xrow + a * g.sw + off, src + (a - qa), b - a, g.sw);
      });
}

inline bool go_parallel(const Geom& g, int64_t tasks) {
  return tasks > 1 && g.macs() >= kParallelMacs && omp_get_max_threads() > 1 && !omp_in_parallel();
}

}  // namespace ember::cpu::conv_im2col
