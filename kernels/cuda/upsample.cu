// Bilinear resizing and its gradient (F::interpolate's "bilinear"; the cpu twin is
// kernels/cpu/upsample.cpp, with the same math).
//
// Math:   per dim, src(o) = scale * o (align_corners) or max(scale * (o + 0.5) - 0.5, 0),
//         i0 = floor(src), i1 = min(i0 + 1, in - 1), l = src - i0, in A (f32 for f32, f64
//         for f64). forward y[p, q] = (1-lh) ((1-lw) x[h0,w0] + lw x[h0,w1])
//                                     + lh ((1-lw) x[h1,w0] + lw x[h1,w1]).
//         backward gx[h, w] = sum over (p, q) of g[p, q] wh(p, h) ww(q, w) with
//         wh(p, h) = [h0(p) = h] (1-lh(p)) + [h1(p) = h] lh(p) (likewise ww).
// Shapes: x, gx (B, H, W); y, g (B, P, Q); contiguous.
// Split:  forward: one thread per output element, grid-stride, 256 per block.
//         backward: one thread per input element, gathering over the outputs whose
//         source can touch it: an index window around (h -+ 1) / scale, widened by a
//         margin and checked exactly (the same src as the forward), in increasing (p, q),
//         so sums are reproducible and nothing is written twice.
// Cost:   forward 11 flops per output, bytes = (B*H*W + B*P*Q) * sizeof(T); backward
//         ~4 flops per (output, input) pair of the windows (about (2/scale + 6)^2 pairs per
//         input when upsampling), the same bytes.
// Pre:    B, H, W, P, Q >= 1.
// DTypes: f32, f64; bf16/f16 (issue 16) loaded into f32 (opmath_t), computed and summed in
//         f32, rounded once on the store.
#include "kernels/cuda/upsample.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/runtime.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;

template <typename A>
struct Tap {
  int64_t i0, i1;
  A l;
};

template <typename A>
EMBER_DEVICE Tap<A> tap(int64_t o, int64_t in, A scale, bool align) {
  A src = align ? scale * static_cast<A>(o) : scale * (static_cast<A>(o) + A(0.5)) - A(0.5);
  if (src < A(0)) src = A(0);
  int64_t i = static_cast<int64_t>(src);
  if (i > in - 1) i = in - 1;
  return {i, i < in - 1 ? i + 1 : i, src - static_cast<A>(i)};
}

// The weight of input index i in output index o's lerp.
template <typename A>
EMBER_DEVICE A weight(const Tap<A>& t, int64_t i) {
  return (t.i0 == i ? A(1) - t.l : A(0)) + (t.i1 == i ? t.l : A(0));
}

// A window [lo, hi) of output indices holding every o whose taps can reach input i:
// src(o) in (i - 1, i + 1] up to rounding, widened by a margin of 3.
EMBER_DEVICE void window(int64_t i, int64_t out, double scale, bool align, int64_t* lo,
                         int64_t* hi) {
  if (!(scale > 0)) {  // every output reads index 0
    *lo = 0;
    *hi = out;
    return;
  }
  const double a = align ? (i - 1) / scale : (i - 0.5) / scale - 0.5;
  const double b = align ? (i + 1) / scale : (i + 1.5) / scale - 0.5;
  const int64_t l = static_cast<int64_t>(a) - 3, h = static_cast<int64_t>(b) + 3;
  *lo = l < 0 ? 0 : l;
  *hi = h > out ? out : (h < 0 ? 0 : h);
}

template <typename T, typename A>
__global__ void forward_kernel(UpsampleShape s, T* y, const T* x) {
  const int64_t n = s.planes * s.out_h * s.out_w;
  const A sh = static_cast<A>(s.scale_h), sw = static_cast<A>(s.scale_w);
  for (int64_t e = global_thread(); e < n; e += grid_threads()) {
    const int64_t q = e % s.out_w, p = (e / s.out_w) % s.out_h, b = e / (s.out_w * s.out_h);
    const Tap<A> th = tap<A>(p, s.in_h, sh, s.align_corners);
    const Tap<A> tw = tap<A>(q, s.in_w, sw, s.align_corners);
    const T* r0 = x + (b * s.in_h + th.i0) * s.in_w;
    const T* r1 = x + (b * s.in_h + th.i1) * s.in_w;
    const A top = (A(1) - tw.l) * static_cast<A>(r0[tw.i0]) + tw.l * static_cast<A>(r0[tw.i1]);
    const A bot = (A(1) - tw.l) * static_cast<A>(r1[tw.i0]) + tw.l * static_cast<A>(r1[tw.i1]);
    y[e] = static_cast<T>((A(1) - th.l) * top + th.l * bot);
  }
}

template <typename T, typename A>
__global__ void backward_kernel(UpsampleShape s, T* gx, const T* g) {
  const int64_t n = s.planes * s.in_h * s.in_w;
  const A sh = static_cast<A>(s.scale_h), sw = static_cast<A>(s.scale_w);
  for (int64_t e = global_thread(); e < n; e += grid_threads()) {
    const int64_t w = e % s.in_w, h = (e / s.in_w) % s.in_h, b = e / (s.in_w * s.in_h);
    int64_t p_lo, p_hi, q_lo, q_hi;
    window(h, s.out_h, s.scale_h, s.align_corners, &p_lo, &p_hi);
    window(w, s.out_w, s.scale_w, s.align_corners, &q_lo, &q_hi);
    A sum = 0;
    for (int64_t p = p_lo; p < p_hi; ++p) {
      const A wh = weight(tap<A>(p, s.in_h, sh, s.align_corners), h);
      if (wh == A(0)) continue;
      const T* row = g + (b * s.out_h + p) * s.out_w;
      A acc = 0;
      for (int64_t q = q_lo; q < q_hi; ++q)
        acc += weight(tap<A>(q, s.in_w, sw, s.align_corners), w) * static_cast<A>(row[q]);
      sum += wh * acc;
    }
    gx[e] = static_cast<T>(sum);
  }
}

LaunchConfig config(const char* name, int64_t n) {
  return {name, dim3(grid_for(n, kThreads)), dim3(kThreads)};
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(bf16{});  // issue 16, halfnn2: f32 math (opmath_t)
    case DType::f16: return f(f16{});
    default: fail<InternalError>("upsample_bilinear", "no kernel for ", dtype);
  }
}

}  // namespace

void launch_upsample_bilinear_forward(DType dtype, const UpsampleShape& s, void* out,
                                      const void* x) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("upsample_bilinear_forward", s.planes * s.out_h * s.out_w),
           &forward_kernel<T, opmath_t<T>>, s, static_cast<T*>(out), static_cast<const T*>(x));
  });
}

void launch_upsample_bilinear_backward(DType dtype, const UpsampleShape& s, void* grad_x,
                                       const void* grad_out) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("upsample_bilinear_backward", s.planes * s.in_h * s.in_w),
           &backward_kernel<T, opmath_t<T>>, s, static_cast<T*>(grad_x),
           static_cast<const T*>(grad_out));
  });
}

}  // namespace ember::EMBER_VARIANT
