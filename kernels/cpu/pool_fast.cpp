// The vectorized plane kernels of 2-D pooling on the cpu device (kernels/cpu/pool.cpp picks
// them per call and threads over the planes). They visit every window's elements in the
// same row-major order as pool.cpp's general loops, so max keeps the first maximum and the
// NaN rule, and fixed-window avg adds in the same order (identical results):
//   global avg (one output whose window covers the whole plane: AdaptiveAvgPool2d(1), or a
//     fixed window as large as the plane): one contiguous sum per plane over vector lanes
//     in double (`omp simd reduction`), backward a broadcast fill;
//   fixed windows without dilation (max and avg): per output row, the interior columns
//     (windows inside [0, W)) in one loop over output columns, contiguous writes, the
//     window's rows outside it; kernel widths 2 and 3 at strides 1 and 2 unroll the
//     columns of the window inside that loop (ResNet's 3x3/2 stem, VGG's and U-Net's 2x2/2),
//     other sizes run the window's columns as an outer loop (max: in chunks, max_chunk).
//     The border columns (padding, ceil_mode's clipped last window) take pool_fast.h's
//     per-window loops.
//   avg backward: the transpose of the fixed forward; columns of the window that one output
//     column's writes cannot overlap (stride-wide groups) share a loop, so the writes form
//     interleaved vector stores (3x3/2: one pass over column pairs). It scales by
//     1 / divisor where the general loop divides.
// Cost: as pool.cpp (every window read once), at vector width for the interior.
#include "kernels/cpu/pool_fast.h"

#include <algorithm>
#include <type_traits>

namespace ember::cpu::pool_fast {

namespace {

using pool::Span;

// The output columns [lo, hi) whose windows lie inside [0, W) (no dilation).
struct Interior {
  int64_t lo, hi;
};

Interior interior(const pool::PoolDim& d) {
  const int64_t lo = std::min((d.pad + d.stride - 1) / d.stride, d.out);
  const int64_t room = d.in + d.pad - d.kernel;  // the last start j s - pad <= in - kernel
  const int64_t hi = room < 0 ? 0 : std::min(room / d.stride + 1, d.out);
  return {lo, std::max(hi, lo)};
}

// The columns [lo, hi) of row i by the per-window loops.
template <typename T, bool kMax>
void border_forward(const Planes& g, const Pool2dParams& p, const T* x, const Span& r, int64_t lo,
                    int64_t hi, T* o, int64_t* at) {
  for (int64_t j = lo; j < hi; ++j) {
    const Span c = pool::window(j, g.cols, false);
    if constexpr (kMax) max_window(x, g.W, r, c, o + j, at + j);
    else o[j] = avg_window(x, g.W, r, c, p);
  }
}

// Max over the interior columns [j0, j0 + n) of one output row, n <= kChunk: the running
// maxima and the winners' offsets in the window (h - r.lo) W + t stay in local arrays. The
// offset is the same for every lane of one step (a broadcast, not a per-lane index) and
// as wide as T, so the selects fill whole vectors.
constexpr int64_t kChunk = 65;  // 4 vectors of floats or 8 of doubles, and one

template <typename T, int KW, int SW>
void max_chunk(const T* __restrict x, int64_t W, const Span& r, int64_t kw, int64_t sw, int64_t pw,
               int64_t j0, int64_t n, T* __restrict o, int64_t* __restrict at) {
  using Off = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  T best[kChunk];
  Off off[kChunk];
  for (int64_t c = 0; c < n; ++c) best[c] = -std::numeric_limits<T>::infinity(), off[c] = 0;
  for (int64_t h = r.lo; h < r.hi; ++h) {
    const T* __restrict row = x + h * W + j0 * sw - pw;  // inside x: j0 is interior
    const Off oh = static_cast<Off>((h - r.lo) * W);
    if constexpr (KW > 0) {
      for (int64_t c = 0; c < n; ++c) {
        T b = best[c];
        Off a = off[c];
        for (int t = 0; t < KW; ++t) {
          const T v = row[c * SW + t];
          const bool take = v > b || v != v;  // v != v: NaN
          b = take ? v : b;
          a = take ? oh + t : a;
        }
        best[c] = b;
        off[c] = a;
      }
    } else {
      for (int64_t t = 0; t < kw; ++t)
        for (int64_t c = 0; c < n; ++c) {
          const T v = row[c * sw + t];
          const bool take = v > best[c] || v != v;
          best[c] = take ? v : best[c];
          off[c] = take ? static_cast<Off>(oh + t) : off[c];
        }
    }
  }
  const int64_t origin = r.lo * W + j0 * sw - pw;  // window origin of column j0
  for (int64_t c = 0; c < n; ++c) {
    o[j0 + c] = best[c];
    at[j0 + c] = origin + c * sw + off[c];
  }
}

// KW, SW: the window's width and column stride when fixed at compile time, else 0.
template <typename T, bool kMax, int KW, int SW>
void fixed_forward(const Planes& g, const Pool2dParams& p, const T* __restrict x, T* __restrict out,
                   int64_t* __restrict idx) {
  const int64_t W = g.W, Q = g.Q, pw = g.cols.pad;
  const int64_t kw = KW > 0 ? KW : g.cols.kernel, sw = SW > 0 ? SW : g.cols.stride;
  const Interior in = interior(g.cols);
  for (int64_t i = 0; i < g.P; ++i) {
    const Span r = pool::window(i, g.rows, false);  // step 1: no dilation
    T* __restrict o = out + i * Q;
    int64_t* __restrict at = kMax ? idx + i * Q : nullptr;
    border_forward<T, kMax>(g, p, x, r, 0, in.lo, o, at);
    border_forward<T, kMax>(g, p, x, r, in.hi, Q, o, at);
    if constexpr (kMax) {
      // Chunks of m kVec + 1 columns: GCC leaves a strided loop's last column to its
      // scalar epilogue (peeling for gaps), so these are m whole vectors and one column.
      // A tail narrower than that is one such chunk ending at in.hi, overlapping the
      // chunk before: it recomputes those outputs to the same values.
      constexpr int64_t kVec = 64 / sizeof(T);  // one AVX-512 register
      for (int64_t j = in.lo; j < in.hi;) {
        int64_t n = std::min(kChunk, in.hi - j);
        if (n > kVec) n -= (n - 1) % kVec;
        else if (in.hi - in.lo > kVec) j = in.hi - (n = kVec + 1);
        max_chunk<T, KW, SW>(x, W, r, kw, sw, pw, j, n, o, at);
        j += n;
      }
    } else {
      for (int64_t j = in.lo; j < in.hi; ++j) o[j] = 0;
      for (int64_t h = r.lo; h < r.hi; ++h) {
        const int64_t base = h * W - pw;
        if constexpr (KW > 0) {
          for (int64_t j = in.lo; j < in.hi; ++j) {
            T s = o[j];
            for (int t = 0; t < KW; ++t) s += x[base + j * SW + t];
            o[j] = s;
          }
        } else {
          for (int64_t t = 0; t < kw; ++t)
            for (int64_t j = in.lo; j < in.hi; ++j) o[j] += x[base + j * sw + t];
        }
      }
      const T d = divisor<T>(r, Span{0, kw, 1, kw}, p);  // an interior column's window
      for (int64_t j = in.lo; j < in.hi; ++j) o[j] /= d;
    }
  }
}

template <typename T, int KW, int SW>
void fixed_avg_backward(const Planes& g, const Pool2dParams& p, const T* __restrict go,
                        T* __restrict gx) {
  const int64_t W = g.W, Q = g.Q, pw = g.cols.pad;
  const int64_t kw = KW > 0 ? KW : g.cols.kernel, sw = SW > 0 ? SW : g.cols.stride;
  const Interior in = interior(g.cols);
  for (int64_t e = 0; e < g.H * W; ++e) gx[e] = 0;
  for (int64_t i = 0; i < g.P; ++i) {
    const Span r = pool::window(i, g.rows, false);
    const T* __restrict gr = go + i * Q;
    for (int64_t j = 0; j < in.lo; ++j)
      avg_window_backward(gx, W, r, pool::window(j, g.cols, false), p, gr[j]);
    for (int64_t j = in.hi; j < Q; ++j)
      avg_window_backward(gx, W, r, pool::window(j, g.cols, false), p, gr[j]);
    const T inv = T(1) / divisor<T>(r, Span{0, kw, 1, kw}, p);
    for (int64_t h = r.lo; h < r.hi; ++h) {
      const int64_t base = h * W - pw;
      if constexpr (KW == 3 && SW == 2) {
        // Window column 2 of output j is column 0 of output j + 1: one pass over column
        // pairs, each written once (half the time of three strided passes).
        if (in.hi == in.lo) continue;
        const int64_t a = in.lo, z = in.hi;
        gx[base + 2 * a] += gr[a] * inv;
        gx[base + 2 * a + 1] += gr[a] * inv;
        for (int64_t j = a + 1; j < z; ++j) {
          gx[base + 2 * j] += (gr[j - 1] + gr[j]) * inv;
          gx[base + 2 * j + 1] += gr[j] * inv;
        }
        gx[base + 2 * z] += gr[z - 1] * inv;  // inside the row: z - 1 is interior
        continue;
      }
      // Window columns [t0, t0 + sw): output j writes base + j sw + [t0, t0 + sw), disjoint
      // from every other output's writes in this loop.
      for (int64_t t0 = 0; t0 < kw; t0 += sw) {
        const int64_t n = std::min(sw, kw - t0);
        if constexpr (KW > 0 || SW > 0) {
          if (n == SW) {
            for (int64_t j = in.lo; j < in.hi; ++j)
              for (int t = 0; t < SW; ++t) gx[base + j * SW + t0 + t] += gr[j] * inv;
            continue;
          }
        }
        for (int64_t t = t0; t < t0 + n; ++t)
          for (int64_t j = in.lo; j < in.hi; ++j) gx[base + j * sw + t] += gr[j] * inv;
      }
    }
  }
}

template <typename T>
void global_avg_forward(const Planes& g, const Pool2dParams& p, const T* __restrict x,
                        T* __restrict out, int64_t*) {
  const int64_t n = g.H * g.W;
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t e = 0; e < n; ++e) s += static_cast<double>(x[e]);
  const Span r = pool::window(0, g.rows, g.adaptive), c = pool::window(0, g.cols, g.adaptive);
  out[0] = static_cast<T>(s / divisor<double>(r, c, p));
}

template <typename T>
void global_avg_backward(const Planes& g, const Pool2dParams& p, const T* __restrict go,
                         T* __restrict gx) {
  const Span r = pool::window(0, g.rows, g.adaptive), c = pool::window(0, g.cols, g.adaptive);
  const T v = go[0] / divisor<T>(r, c, p);
  for (int64_t e = 0; e < g.H * g.W; ++e) gx[e] = v;
}

bool covers(const pool::PoolDim& d, bool adaptive) {
  if (d.out != 1 || (!adaptive && d.dilation != 1)) return false;
  const Span s = pool::window(0, d, adaptive);
  return s.lo == 0 && s.hi == d.in;
}

bool global(const Planes& g) { return covers(g.rows, g.adaptive) && covers(g.cols, g.adaptive); }

bool fixed_undilated(const Planes& g, const Pool2dParams& p) {
  return !g.adaptive && p.dilation_h == 1 && p.dilation_w == 1;
}

template <typename T, bool kMax>
ForwardPlane<T> pick_forward(int64_t kw, int64_t sw) {
  if (kw == 2 && sw == 1) return fixed_forward<T, kMax, 2, 1>;
  if (kw == 3 && sw == 1) return fixed_forward<T, kMax, 3, 1>;
  if (kw == 2 && sw == 2) return fixed_forward<T, kMax, 2, 2>;
  if (kw == 3 && sw == 2) return fixed_forward<T, kMax, 3, 2>;
  if (sw == 1) return fixed_forward<T, kMax, 0, 1>;
  if (sw == 2) return fixed_forward<T, kMax, 0, 2>;
  return fixed_forward<T, kMax, 0, 0>;
}

}  // namespace

template <typename T>
ForwardPlane<T> forward_plane(const Planes& g, const Pool2dParams& p) {
  if (p.mode == PoolMode::avg && global(g)) return global_avg_forward<T>;
  if (!fixed_undilated(g, p)) return nullptr;
  const int64_t kw = g.cols.kernel, sw = g.cols.stride;
  return p.mode == PoolMode::max ? pick_forward<T, true>(kw, sw) : pick_forward<T, false>(kw, sw);
}

template <typename T>
BackwardPlane<T> backward_plane(const Planes& g, const Pool2dParams& p) {
  if (p.mode != PoolMode::avg) return nullptr;
  if (global(g)) return global_avg_backward<T>;
  if (!fixed_undilated(g, p)) return nullptr;
  const int64_t kw = g.cols.kernel, sw = g.cols.stride;
  if (kw == 2 && sw == 2) return fixed_avg_backward<T, 2, 2>;
  if (kw == 3 && sw == 2) return fixed_avg_backward<T, 3, 2>;
  if (kw == 3 && sw == 1) return fixed_avg_backward<T, 3, 1>;
  if (sw == 1) return fixed_avg_backward<T, 0, 1>;
  if (sw == 2) return fixed_avg_backward<T, 0, 2>;
  return fixed_avg_backward<T, 0, 0>;
}

template ForwardPlane<float> forward_plane<float>(const Planes&, const Pool2dParams&);
template ForwardPlane<double> forward_plane<double>(const Planes&, const Pool2dParams&);
template BackwardPlane<float> backward_plane<float>(const Planes&, const Pool2dParams&);
template BackwardPlane<double> backward_plane<double>(const Planes&, const Pool2dParams&);

}  // namespace ember::cpu::pool_fast
