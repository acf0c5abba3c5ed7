// The vectorized strip loops batch norm and group norm share (kernels/cpu/batch_norm.cpp,
// group_norm.cpp). Sums accumulate in double whatever T is: f32 inputs lose nothing to
// cancellation in the variance, and converting 8 or 16 lanes to double costs little
// next to reading them. `omp simd reduction` lets GCC split each sum over vector lanes
// (it may not reorder a plain floating sum by itself).
#pragma once

#include <cstdint>

#include "tensor/error.h"
#include "tensor/tensor.h"

namespace ember::cpu::norm {

template <typename T>
const T* in(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr;
}
template <typename T>
T* out(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

// s1 += sum (x - shift), s2 += sum (x - shift)^2 over x[0, n). Shifting by a value of
// the data keeps the one-pass variance s2/n - (s1/n)^2 free of cancellation when the
// mean is large next to the spread.
template <typename T>
inline void shifted_sums(const T* x, int64_t n, double shift, double& s1, double& s2) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - shift;
    a += d;
    b += d * d;
  }
  s1 += a;
  s2 += b;
}

// sg += sum g, sgx += sum g (x - center) over [0, n).
template <typename T>
inline void grad_sums(const T* g, const T* x, int64_t n, double center, double& sg, double& sgx) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    const double gi = static_cast<double>(g[i]);
    a += gi;
    b += gi * (static_cast<double>(x[i]) - center);
  }
  sg += a;
  sgx += b;
}

// y = (x - center) scale + shift over [0, n) (centring first keeps f32 exact enough when
// the mean is large next to the spread; the subtraction is free in a loop bound by memory).
template <typename T>
inline void affine(const T* x, int64_t n, T center, T scale, T shift, T* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - center) * scale + shift;
}

// dx = a g + b (x - center) + c over [0, n).
template <typename T>
inline void combine(const T* g, const T* x, int64_t n, T center, T a, T b, T c, T* dx) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = a * g[i] + b * (x[i] - center) + c;
}

template <typename F>
void for_dtype(const char* op, DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<DTypeError>(op, "no cpu kernel for ", dtype);  // bf16/f16 refused
  }
}

}  // namespace ember::cpu::norm
