// GELU's backward in one elementwise pass (issue 15, perf); formulas as the cpu kernel
// (kernels/cpu/gelu_backward.cpp):
//   erf form:  gelu'(x) = Phi(x) + x phi(x)
//   tanh form: t = tanh(k (x + c x^3)), gelu'(x) = (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2,
//              computed through s = (1 + t) / 2 = 1 / (1 + exp(-2u)) (see the cpu kernel)
// Split:  grid-stride loop, one element per thread per step.
// Cost:   ~20 FLOPs and one tanh or erf + exp per element; bytes 3 n sizeof(T).
// DTypes: f32, f64; bf16/f16 (issue 16) loaded into f32 (opmath_t), rounded once on store.
#include "kernels/cuda/gelu_backward.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;

// bf16/f16 (issue 16, halfnn2): the math in T = opmath_t<S> (f32), one rounding on store.
template <typename S, typename T = opmath_t<S>>
__global__ void gelu_backward_kernel(int64_t n, bool tanh, S* gx, const S* gy, const S* x) {
  const T k = static_cast<T>(0.79788456080286535588);  // sqrt(2 / pi)
  const T c = static_cast<T>(0.044715);
  const T inv_sqrt2 = static_cast<T>(0.70710678118654752440);
  const T inv_sqrt_2pi = static_cast<T>(0.39894228040143267794);
  const T max_arg = sizeof(T) == 4 ? T(88) : T(709);  // exp(-2u) overflows past it
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const T v = static_cast<T>(x[i]);
    T d;
    if (tanh) {
      const T v2 = v * v;
      const T m2u = T(-2) * k * (v + c * v2 * v);
      const T e = d_exp(m2u < max_arg ? m2u : max_arg);
      const T s = T(1) / (T(1) + e);  // (1 + t) / 2, without 1 + t's cancellation
      d = s + T(2) * v * k * (T(1) + T(3) * c * v2) * s * (e * s);
    } else {
      d = T(0.5) * (T(1) + d_erf(v * inv_sqrt2)) + v * d_exp(T(-0.5) * v * v) * inv_sqrt_2pi;
    }
    gx[i] = static_cast<S>(static_cast<T>(gy[i]) * d);
  }
}

template <typename T>
void launch_typed(int64_t n, bool tanh, void* gx, const void* gy, const void* x) {
  const LaunchConfig cfg{"gelu_backward", dim3(grid_for(n, kThreads)), dim3(kThreads)};
  launch(cfg, &gelu_backward_kernel<T>, n, tanh, static_cast<T*>(gx), static_cast<const T*>(gy),
         static_cast<const T*>(x));
}

}  // namespace

void launch_gelu_backward(DType dtype, int64_t n, bool tanh, void* grad_x, const void* grad_y,
                          const void* x) {
  switch (dtype) {
    case DType::f32: return launch_typed<float>(n, tanh, grad_x, grad_y, x);
    case DType::f64: return launch_typed<double>(n, tanh, grad_x, grad_y, x);
    case DType::bf16: return launch_typed<bf16>(n, tanh, grad_x, grad_y, x);  // halfnn2
    case DType::f16: return launch_typed<f16>(n, tanh, grad_x, grad_y, x);
    default: break;
  }
  fail<InternalError>("gelu_backward", "no kernel for ", dtype);
}

}  // namespace ember::EMBER_VARIANT
