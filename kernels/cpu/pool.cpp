// 2-D max and avg pooling (fixed and adaptive windows, kernels/pool_window.h) on the cpu
// device: the (H, W) planes split over OpenMP threads, each plane's outputs in row-major
// order with the window's columns as the inner, contiguous loop.
//   max: out = the first maximum in row-major window order (a NaN wins, the last one seen),
//        index = its h W + w; backward adds grad_out at the index, in output order.
//   avg: out = window sum / divisor; backward spreads grad_out / divisor over the window.
// Cost: forward reads each window once (B P Q kh kw loads), backward writes each input once
// plus one add per (output, window element) for avg, one per output for max.
// These are the general loops: the windows pool_fast.h names (global avg, fixed windows
// without dilation) take pool_fast.cpp's vectorized plane kernels instead.
#include <omp.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/pool_fast.h"
#include "kernels/half_operands_nn.h"  // issue 16, halfnn2

namespace ember::cpu {

namespace {

using pool::Span;
using pool_fast::Planes;

Planes planes(const Tensor& x, const Tensor& out, const Pool2dParams& p) {
  const int64_t H = x.size(1), W = x.size(2), P = out.size(1), Q = out.size(2);
  return {x.size(0),
          H,
          W,
          P,
          Q,
          {H, P, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h},
          {W, Q, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w},
          p.adaptive};
}

bool parallel_over(int64_t B, int64_t work) {
  return B > 1 && work >= kParallelGrain && !omp_in_parallel();
}

template <typename T>
void forward(const Planes& g, const Pool2dParams& p, const T* x, T* out, int64_t* idx) {
  const pool_fast::ForwardPlane<T> fast = pool_fast::forward_plane<T>(g, p);
#pragma omp parallel for schedule(static) if (parallel_over(g.B, g.B * g.H * g.W))
  for (int64_t b = 0; b < g.B; ++b) {
    const T* plane = x + b * g.H * g.W;  // (H, W)
    if (fast) {
      fast(g, p, plane, out + b * g.P * g.Q, idx ? idx + b * g.P * g.Q : nullptr);
      continue;
    }
    for (int64_t i = 0; i < g.P; ++i) {
      const Span r = pool::window(i, g.rows, g.adaptive);
      for (int64_t j = 0; j < g.Q; ++j) {
        const Span c = pool::window(j, g.cols, g.adaptive);
        const int64_t o = (b * g.P + i) * g.Q + j;
        if (p.mode == PoolMode::max) pool_fast::max_window(plane, g.W, r, c, out + o, idx + o);
        else out[o] = pool_fast::avg_window(plane, g.W, r, c, p);
      }
    }
  }
}

template <typename T>
void backward(const Planes& g, const Pool2dParams& p, const T* go, const int64_t* idx, T* gx) {
  const pool_fast::BackwardPlane<T> fast = pool_fast::backward_plane<T>(g, p);
#pragma omp parallel for schedule(static) if (parallel_over(g.B, g.B * g.H * g.W))
  for (int64_t b = 0; b < g.B; ++b) {
    T* plane = gx + b * g.H * g.W;     // (H, W)
    const T* gp = go + b * g.P * g.Q;  // (P, Q)
    if (fast) {
      fast(g, p, gp, plane);
      continue;
    }
    for (int64_t e = 0; e < g.H * g.W; ++e) plane[e] = 0;
    if (p.mode == PoolMode::max) {
      const int64_t* ip = idx + b * g.P * g.Q;
      for (int64_t o = 0; o < g.P * g.Q; ++o) plane[ip[o]] += gp[o];
      continue;
    }
    for (int64_t i = 0; i < g.P; ++i) {
      const Span r = pool::window(i, g.rows, g.adaptive);
      for (int64_t j = 0; j < g.Q; ++j)
        pool_fast::avg_window_backward(plane, g.W, r, pool::window(j, g.cols, g.adaptive), p,
                                       gp[i * g.Q + j]);
    }
  }
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<DTypeError>("pool2d", "no cpu kernel for ", dtype);  // bf16/f16 refused
  }
}

int64_t* indices_of(const Tensor& t) {
  return t.defined() ? static_cast<int64_t*>(t.raw_data()) : nullptr;
}

}  // namespace

void CpuBackend::pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x,
                                const Pool2dParams& p) {
  const FlushDenormals flush;
  if (is_half(x.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::pool2d_forward(*this, out, indices, x, p);
  for_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    forward(planes(x, out, p), p, static_cast<const T*>(x.raw_data()),
            static_cast<T*>(out.raw_data()), indices_of(indices));
  });
}

void CpuBackend::pool2d_backward(const Tensor& grad_x, const Tensor& grad_out,
                                 const Tensor& indices, const Pool2dParams& p) {
  const FlushDenormals flush;
  if (is_half(grad_x.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::pool2d_backward(*this, grad_x, grad_out, indices, p);
  for_dtype(grad_x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    backward(planes(grad_x, grad_out, p), p, static_cast<const T*>(grad_out.raw_data()),
             indices_of(indices), static_cast<T*>(grad_x.raw_data()));
  });
}

}  // namespace ember::cpu
