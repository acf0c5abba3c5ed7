// Layer normalization over the last dim on the cpu device (see kernels/cuda/layer_norm.cu
// for the formulas): rows split over OpenMP threads, statistics accumulated in T (f32 in
// f32, f64 in f64); dweight and dbias summed over fixed row blocks, then across blocks.
// bf16/f16: the forward fuses the conversions per row (kernels/cpu/half_rows.h); the
// backward runs on widened operands (kernels/half_operands.h).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/half_rows.h"
#include "kernels/cpu/loops.h"
#include "kernels/half_operands.h"

namespace ember::cpu {

namespace {

template <typename T>
const T* in(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr;
}
template <typename T>
T* out(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

template <typename T>
void forward(int64_t R, int64_t N, T eps, const T* x, const T* w, const T* b, T* y, T* mean,
             T* rstd) {
  const bool parallel = R * N >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    const T* row = x + r * N;
    T s = 0;
    for (int64_t c = 0; c < N; ++c) s += row[c];
    const T mu = s / static_cast<T>(N);
    T v = 0;
    for (int64_t c = 0; c < N; ++c) v += (row[c] - mu) * (row[c] - mu);
    const T rs = T(1) / std::sqrt(v / static_cast<T>(N) + eps);
    T* o = y + r * N;
    for (int64_t c = 0; c < N; ++c) {
      T h = (row[c] - mu) * rs;
      if (w != nullptr) h = h * w[c];
      if (b != nullptr) h = h + b[c];
      o[c] = h;
    }
    mean[r] = mu;
    rstd[r] = rs;
  }
}

// Rows go in fixed blocks of kRowBlock; each block writes its dx rows and its partial
// dweight/dbias sums (a row at a time, so the column loop is unit-stride and vectorizes),
// and the partials are added in block order: the result does not depend on the thread
// count. (Summing each column down the rows, stride N, took 6 ms on (4096, 128).)
constexpr int64_t kRowBlock = 64;

template <typename T>
void backward(int64_t R, int64_t N, const T* dy, const T* x, const T* mean, const T* rstd,
              const T* w, T* dx, T* dw, T* db) {
  const bool parallel = R * N >= kParallelGrain && R > 1 && !omp_in_parallel();
  const bool affine = dw != nullptr || db != nullptr;
  const int64_t blocks = (R + kRowBlock - 1) / kRowBlock;
  std::vector<T> partial(affine ? static_cast<size_t>(blocks * 2 * N) : 0, T(0));
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    T* pw = affine ? partial.data() + blk * 2 * N : nullptr;
    T* pb = affine ? pw + N : nullptr;
    for (int64_t r = blk * kRowBlock; r < std::min(R, (blk + 1) * kRowBlock); ++r) {
      const T *g = dy + r * N, *xr = x + r * N;
      const T mu = mean[r], rs = rstd[r];
      T sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
      for (int64_t c = 0; c < N; ++c) {
        const T gc = w != nullptr ? g[c] * w[c] : g[c];
        sg += gc;
        sgx += gc * ((xr[c] - mu) * rs);
      }
      const T mg = sg / static_cast<T>(N), mgx = sgx / static_cast<T>(N);
      T* o = dx + r * N;
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) {
        const T gc = w != nullptr ? g[c] * w[c] : g[c];
        o[c] = rs * (gc - mg - (xr[c] - mu) * rs * mgx);
      }
      if (!affine) continue;
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) {
        pw[c] += g[c] * ((xr[c] - mu) * rs);
        pb[c] += g[c];
      }
    }
  }
  if (!affine) return;
  for (int64_t c = 0; c < N; ++c) {
    if (dw != nullptr) dw[c] = 0;
    if (db != nullptr) db[c] = 0;
  }
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const T* pw = partial.data() + blk * 2 * N;
    const T* pb = pw + N;
    if (dw != nullptr)
      for (int64_t c = 0; c < N; ++c) dw[c] += pw[c];
    if (db != nullptr)
      for (int64_t c = 0; c < N; ++c) db[c] += pb[c];
  }
}

// bf16/f16 (issue 16): each row widened to f32, the f32 row kernel, rounded once; mean and
// rstd (R) are f32.
template <typename H>
void forward_half(const LayerNormForwardArgs& a, float eps) {
  const int64_t R = a.x.size(0), N = a.x.size(1);
  const std::vector<float> w = widened_vector(in<H>(a.weight), N),
                           b = widened_vector(in<H>(a.bias), N);
  const float* wp = w.empty() ? nullptr : w.data();
  const float* bp = b.empty() ? nullptr : b.data();
  float *mean = out<float>(a.mean), *rstd = out<float>(a.rstd);
  for_each_half_row(in<H>(a.x), out<H>(a.y), R, N, [&](int64_t r, float* row) {
    forward<float>(1, N, eps, row, wp, bp, row, mean + r, rstd + r);
  });
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>("layer_norm", "no cpu kernel for ", dtype);
  }
}

}  // namespace

void CpuBackend::layer_norm_forward(const LayerNormForwardArgs& a, const LayerNormParams& p) {
  const FlushDenormals flush;
  if (a.x.dtype() == DType::bf16) return forward_half<bf16>(a, static_cast<float>(p.eps));
  if (a.x.dtype() == DType::f16) return forward_half<f16>(a, static_cast<float>(p.eps));
  const int64_t R = a.x.size(0), N = a.x.size(1);
  for_dtype(a.x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    forward<T>(R, N, static_cast<T>(p.eps), in<T>(a.x), in<T>(a.weight), in<T>(a.bias), out<T>(a.y),
               out<T>(a.mean), out<T>(a.rstd));
  });
}

void CpuBackend::layer_norm_backward(const LayerNormBackwardArgs& a, const LayerNormParams& p) {
  const FlushDenormals flush;
  if (is_half(a.x.dtype())) return half_ops::layer_norm_backward(*this, a, p);  // issue 16
  const int64_t R = a.x.size(0), N = a.x.size(1);
  for_dtype(a.x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    backward<T>(R, N, in<T>(a.grad_y), in<T>(a.x), in<T>(a.mean), in<T>(a.rstd), in<T>(a.weight),
                out<T>(a.grad_x), out<T>(a.grad_weight), out<T>(a.grad_bias));
  });
}

}  // namespace ember::cpu
