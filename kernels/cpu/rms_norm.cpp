// RMS normalization over the last dim on the cpu device (issue 15; the math is in
// tensor/backend_args.h's RmsNormForwardArgs and kernels/cuda/rms_norm.cu).
//
// Split:  rows over OpenMP threads; each row's sums in double with `omp simd reduction`
//         (vectorized; f32 loses nothing to the sum of squares); dweight: columns in
//         blocks over threads, each block walking the rows in order with a contiguous,
//         vectorized inner loop (deterministic, no atomics).
// Cost:   forward ~4 FLOPs per element, bytes 1 read + 1 write of x's size; backward ~6
//         FLOPs per element, bytes 2 reads (dy, x) + 1 write, and 2 more reads for dweight.
// bf16/f16: the forward fuses the conversions per row (kernels/cpu/half_rows.h); the
//         backward runs on widened operands (kernels/half_operands.h).
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/half_rows.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/norm_sums.h"
#include "kernels/half_operands.h"

namespace ember::cpu {

namespace {

using norm::in;
using norm::out;

constexpr int64_t kColumnBlock = 256;

template <typename T>
void forward(int64_t R, int64_t N, double eps, const T* x, const T* w, T* y, T* rstd) {
  const bool parallel = R * N >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    const T* row = x + r * N;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < N; ++c) ss += static_cast<double>(row[c]) * row[c];
    const T rs = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(N) + eps));
    T* o = y + r * N;
    if (w != nullptr) {
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) o[c] = row[c] * rs * w[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) o[c] = row[c] * rs;
    }
    rstd[r] = rs;
  }
}

template <typename T>
void backward_input(int64_t R, int64_t N, const T* dy, const T* x, const T* rstd, const T* w,
                    T* dx) {
  const bool parallel = R * N >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    const T *g = dy + r * N, *xr = x + r * N;
    double sgx = 0;  // sum g x, g = dy w
    if (w != nullptr) {
#pragma omp simd reduction(+ : sgx)
      for (int64_t c = 0; c < N; ++c) sgx += static_cast<double>(g[c]) * w[c] * xr[c];
    } else {
#pragma omp simd reduction(+ : sgx)
      for (int64_t c = 0; c < N; ++c) sgx += static_cast<double>(g[c]) * xr[c];
    }
    const double rs = rstd[r];
    // dx = rs g - x rs^3 mean(g x)
    const T a = static_cast<T>(rs), b = static_cast<T>(rs * rs * rs * sgx / static_cast<double>(N));
    T* o = dx + r * N;
    if (w != nullptr) {
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) o[c] = a * g[c] * w[c] - b * xr[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) o[c] = a * g[c] - b * xr[c];
    }
  }
}

// dw[c] = sum_r dy[r, c] x[r, c] rstd[r], rows in order for every column.
template <typename T>
void backward_weight(int64_t R, int64_t N, const T* dy, const T* x, const T* rstd, T* dw) {
  const int64_t blocks = (N + kColumnBlock - 1) / kColumnBlock;
  const bool parallel = R * N >= kParallelGrain && blocks > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, n = std::min(kColumnBlock, N - c0);
    double acc[kColumnBlock] = {};
    for (int64_t r = 0; r < R; ++r) {
      const T *g = dy + r * N + c0, *xr = x + r * N + c0;
      const double rs = rstd[r];
#pragma omp simd
      for (int64_t c = 0; c < n; ++c) acc[c] += static_cast<double>(g[c]) * xr[c] * rs;
    }
    for (int64_t c = 0; c < n; ++c) dw[c0 + c] = static_cast<T>(acc[c]);
  }
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>("rms_norm", "no cpu kernel for ", dtype);
  }
}

// bf16/f16 (issue 16): each row widened to f32, the f32 row kernel, rounded once; rstd (R)
// is f32.
template <typename H>
void forward_half(const RmsNormForwardArgs& a, double eps) {
  const int64_t R = a.x.size(0), N = a.x.size(1);
  const std::vector<float> w = widened_vector(in<H>(a.weight), N);
  const float* wp = w.empty() ? nullptr : w.data();
  float* rstd = out<float>(a.rstd);
  for_each_half_row(in<H>(a.x), out<H>(a.y), R, N, [&](int64_t r, float* row) {
    forward<float>(1, N, eps, row, wp, row, rstd + r);
  });
}

}  // namespace

void CpuBackend::rms_norm_forward(const RmsNormForwardArgs& a, const RmsNormParams& p) {
  const FlushDenormals flush;
  if (a.x.dtype() == DType::bf16) return forward_half<bf16>(a, p.eps);  // issue 16
  if (a.x.dtype() == DType::f16) return forward_half<f16>(a, p.eps);
  const int64_t R = a.x.size(0), N = a.x.size(1);
  for_dtype(a.x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    forward<T>(R, N, p.eps, in<T>(a.x), in<T>(a.weight), out<T>(a.y), out<T>(a.rstd));
  });
}

void CpuBackend::rms_norm_backward(const RmsNormBackwardArgs& a, const RmsNormParams& p) {
  const FlushDenormals flush;
  if (is_half(a.x.dtype())) return half_ops::rms_norm_backward(*this, a, p);  // issue 16
  const int64_t R = a.x.size(0), N = a.x.size(1);
  for_dtype(a.x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    backward_input<T>(R, N, in<T>(a.grad_y), in<T>(a.x), in<T>(a.rstd), in<T>(a.weight),
                      out<T>(a.grad_x));
    if (a.grad_weight.defined())
      backward_weight<T>(R, N, in<T>(a.grad_y), in<T>(a.x), in<T>(a.rstd), out<T>(a.grad_weight));
  });
}

}  // namespace ember::cpu
