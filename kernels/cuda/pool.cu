// 2-D max and avg pooling over (H, W) planes, fixed and adaptive windows
// (kernels/pool_window.h says which input elements each output covers).
//
// Math:   max: out = the first maximum of the window in row-major order (a NaN wins, the
//              last one seen, as PyTorch), idx = its h W + w;
//              backward gx[h, w] = sum of g over the outputs whose idx is (h, w).
//         avg: out = window sum / divisor (divisor_override, or the window clipped to the
//              padded input with count_include_pad, or to the input without);
//              backward gx[h, w] = sum over the windows holding (h, w) of g / divisor.
// Shapes: x and gx (B, H, W), out, idx and g (B, P, Q), contiguous.
// Split:  forward: one thread per output element; backward: one thread per input element,
//         which visits the outputs that may cover it (pool::outputs_covering) in row-major
//         order, the order of the cpu's sums, so no atomics and the same bits as the cpu.
// Cost:   forward B P Q kh kw loads, B P Q stores (+ 8 B P Q index bytes for max);
//         backward B H W stores, about B H W (kh / sh) (kw / sw) output reads.
// Pre:    every window holds an input element (the op layer's rules on padding and
//         ceil_mode guarantee it); B H W >= 1.
// DTypes: f32, f64; bf16/f16 (issue 16) loaded into f32 (opmath_t), computed and summed in
//         f32, rounded once on the store.
#include "kernels/cuda/pool.h"

#include <cstdint>
#include <limits>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/runtime.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;

template <typename T>
EMBER_DEVICE T avg_divisor(const pool::Span& r, const pool::Span& c, const PoolShape& s) {
  if (s.divisor_override > 0) return static_cast<T>(s.divisor_override);
  if (s.count_include_pad) return static_cast<T>(r.padded * c.padded);
  return static_cast<T>(r.count() * c.count());
}

// bf16/f16 (issue 16, halfnn2): A = opmath_t<T> (f32) holds the running max and sums, and
// the result is rounded once on the store; f32 and f64 are their own A.
template <typename T>
__global__ void forward_kernel(PoolShape s, const T* x, T* out, int64_t* idx) {
  using A = opmath_t<T>;
  const int64_t H = s.rows.in, W = s.cols.in, P = s.rows.out, Q = s.cols.out;
  for (int64_t o = global_thread(); o < s.planes * P * Q; o += grid_threads()) {
    const int64_t j = o % Q, i = (o / Q) % P, b = o / (P * Q);
    const pool::Span r = pool::window(i, s.rows, s.adaptive);
    const pool::Span c = pool::window(j, s.cols, s.adaptive);
    const T* plane = x + b * H * W;  // (H, W)
    if (s.max) {
      A best = -std::numeric_limits<A>::infinity();
      int64_t at = r.lo * W + c.lo;
      for (int64_t h = r.lo; h < r.hi; h += r.step)
        for (int64_t w = c.lo; w < c.hi; w += c.step) {
          const A v = static_cast<A>(plane[h * W + w]);
          if (v > best || is_nan(v)) {
            best = v;
            at = h * W + w;
          }
        }
      out[o] = static_cast<T>(best);
      idx[o] = at;
    } else {
      A sum = 0;
      for (int64_t h = r.lo; h < r.hi; ++h)
        for (int64_t w = c.lo; w < c.hi; ++w) sum += static_cast<A>(plane[h * W + w]);
      out[o] = static_cast<T>(sum / avg_divisor<A>(r, c, s));
    }
  }
}

template <typename T>
__global__ void backward_kernel(PoolShape s, const T* g, const int64_t* idx, T* gx) {
  using A = opmath_t<T>;  // overlapping windows summed in f32 for bf16/f16
  const int64_t H = s.rows.in, W = s.cols.in, P = s.rows.out, Q = s.cols.out;
  for (int64_t e = global_thread(); e < s.planes * H * W; e += grid_threads()) {
    const int64_t w = e % W, h = (e / W) % H, b = e / (H * W);
    int64_t i0, i1, j0, j1;
    pool::outputs_covering(h, s.rows, s.adaptive, &i0, &i1);
    pool::outputs_covering(w, s.cols, s.adaptive, &j0, &j1);
    const T* gp = g + b * P * Q;  // (P, Q)
    A sum = 0;
    for (int64_t i = i0; i <= i1; ++i) {
      const pool::Span r = pool::window(i, s.rows, s.adaptive);
      if (!pool::contains(r, h)) continue;
      for (int64_t j = j0; j <= j1; ++j) {
        const pool::Span c = pool::window(j, s.cols, s.adaptive);
        if (!pool::contains(c, w)) continue;
        if (s.max) {
          if (idx[b * P * Q + i * Q + j] == h * W + w) sum += static_cast<A>(gp[i * Q + j]);
        } else {
          sum += static_cast<A>(gp[i * Q + j]) / avg_divisor<A>(r, c, s);
        }
      }
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
    case DType::bf16: return f(bf16{});  // issue 16, halfnn2
    case DType::f16: return f(f16{});
    default: fail<InternalError>("pool2d", "no kernel for ", dtype);
  }
}

}  // namespace

void launch_pool2d_forward(DType dtype, const PoolShape& s, void* out, int64_t* indices,
                           const void* x) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("pool2d_forward", s.planes * s.rows.out * s.cols.out), &forward_kernel<T>, s,
           static_cast<const T*>(x), static_cast<T*>(out), indices);
  });
}

void launch_pool2d_backward(DType dtype, const PoolShape& s, void* grad_x, const void* grad_out,
                            const int64_t* indices) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("pool2d_backward", s.planes * s.rows.in * s.cols.in), &backward_kernel<T>, s,
           static_cast<const T*>(grad_out), indices, static_cast<T*>(grad_x));
  });
}

}  // namespace ember::EMBER_VARIANT
