// What kernels/cpu/pool.cpp (the general loops) and pool_fast.cpp (the vectorized plane
// kernels) share: the planes' geometry, the per-window loops both use (pool_fast.cpp for
// the border outputs its interior loops skip), and the choice of a fast plane kernel.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/pool_window.h"
#include "tensor/backend.h"

namespace ember::cpu::pool_fast {

// x (B, H, W) pooled to (B, P, Q).
struct Planes {
  int64_t B, H, W, P, Q;
  pool::PoolDim rows, cols;
  bool adaptive;
};

template <typename T>
T divisor(const pool::Span& r, const pool::Span& c, const Pool2dParams& p) {
  if (p.divisor_override > 0) return static_cast<T>(p.divisor_override);
  if (p.count_include_pad) return static_cast<T>(r.padded * c.padded);
  return static_cast<T>(r.count() * c.count());
}

// The first maximum of one window in row-major order; a NaN wins (the last one seen).
template <typename T>
void max_window(const T* plane, int64_t W, const pool::Span& r, const pool::Span& c, T* out,
                int64_t* idx) {
  T best = -std::numeric_limits<T>::infinity();
  int64_t at = r.lo * W + c.lo;
  for (int64_t h = r.lo; h < r.hi; h += r.step)
    for (int64_t w = c.lo; w < c.hi; w += c.step) {
      const T v = plane[h * W + w];
      if (v > best || std::isnan(v)) best = v, at = h * W + w;
    }
  *out = best;
  *idx = at;
}

template <typename T>
T avg_window(const T* plane, int64_t W, const pool::Span& r, const pool::Span& c,
             const Pool2dParams& p) {
  T s = 0;
  for (int64_t h = r.lo; h < r.hi; ++h)
    for (int64_t w = c.lo; w < c.hi; ++w) s += plane[h * W + w];
  return s / divisor<T>(r, c, p);
}

template <typename T>
void avg_window_backward(T* plane, int64_t W, const pool::Span& r, const pool::Span& c,
                         const Pool2dParams& p, T grad) {
  const T v = grad / divisor<T>(r, c, p);
  for (int64_t h = r.lo; h < r.hi; ++h)
    for (int64_t w = c.lo; w < c.hi; ++w) plane[h * W + w] += v;
}

// One plane: x (H, W) -> out (P, Q) and, for max, idx (P, Q).
template <typename T>
using ForwardPlane = void (*)(const Planes&, const Pool2dParams&, const T* x, T* out, int64_t* idx);
// One plane of avg's backward: grad_out (P, Q) -> grad_x (H, W), every element written.
template <typename T>
using BackwardPlane = void (*)(const Planes&, const Pool2dParams&, const T* go, T* gx);

// The vectorized kernel for these windows, or nullptr where only pool.cpp's general loops
// apply (adaptive windows other than global ones, dilation; max's backward is a scatter).
template <typename T>
ForwardPlane<T> forward_plane(const Planes& g, const Pool2dParams& p);
template <typename T>
BackwardPlane<T> backward_plane(const Planes& g, const Pool2dParams& p);

}  // namespace ember::cpu::pool_fast
