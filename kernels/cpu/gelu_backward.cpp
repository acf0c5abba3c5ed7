// GELU's backward on the cpu (issue 15, perf): grad_x = grad_y gelu'(x) in one pass.
// Composed from elementwise ops (autograd's rule for create_graph) the tanh form took ~18
// passes over the activation, each allocating its result; here it is one loop that
// vectorizes (f32 exp and erf from kernels/cpu/fast_math.h; f64 through the C library).
//   erf form:  gelu'(x) = Phi(x) + x phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2,
//              phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
//   tanh form: u = k (x + c x^3), t = tanh(u), k = sqrt(2 / pi), c = 0.044715,
//              gelu'(x) = (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2
//              computed as s + 2 x k (1 + 3 c x^2) s (1 - s), s = (1 + t) / 2 =
//              1 / (1 + exp(-2u)), 1 - s = exp(-2u) s: in f32, 1 + t cancels for x below
//              about -3 (t near -1) and lost the small derivative there; s does not.
#include <cmath>
#include <type_traits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/loops.h"
#include "kernels/half_operands_nn.h"  // issue 16, halfnn2

namespace ember::cpu {

namespace {

template <typename T, typename F>
void map_grad(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x, F dgelu) {
  auto p = plan_loop<3>({&grad_x, &grad_y, &x});
  run_loop(p, [&](const std::array<char*, 3>& ptr, const std::array<int64_t, 3>&, int64_t n) {
    T* o = reinterpret_cast<T*>(ptr[0]);  // all contiguous (the primitive's contract)
    const T* g = reinterpret_cast<const T*>(ptr[1]);
    const T* xs = reinterpret_cast<const T*>(ptr[2]);
    for (int64_t i = 0; i < n; ++i) o[i] = g[i] * dgelu(xs[i]);
  });
}

template <typename T>
void gelu_grad(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x, bool tanh) {
  const T k = static_cast<T>(0.79788456080286535588);  // sqrt(2 / pi)
  const T c = static_cast<T>(0.044715);
  const T inv_sqrt2 = static_cast<T>(0.70710678118654752440);
  const T inv_sqrt_2pi = static_cast<T>(0.39894228040143267794);
  // exp(-2u) past this overflows; clamped, s below is still ~exp(2u) (0 to T's precision).
  const T max_arg = std::is_same_v<T, float> ? T(88) : T(709);
  if (tanh) {
    map_grad<T>(grad_x, grad_y, x, [=](T v) {
      const T v2 = v * v;
      const T m2u = T(-2) * k * (v + c * v2 * v);
      const T e = fast_exp(m2u < max_arg ? m2u : max_arg);
      const T s = T(1) / (T(1) + e);  // (1 + t) / 2
      return s + T(2) * v * k * (T(1) + T(3) * c * v2) * s * (e * s);
    });
  } else {
    map_grad<T>(grad_x, grad_y, x, [=](T v) {
      const T cdf = T(0.5) * (T(1) + fast_erf(v * inv_sqrt2));
      return cdf + v * fast_exp(T(-0.5) * v * v) * inv_sqrt_2pi;
    });
  }
}

}  // namespace

void CpuBackend::gelu_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x,
                               bool tanh) {
  const FlushDenormals flush;
  if (is_half(x.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::gelu_backward(*this, grad_x, grad_y, x, tanh);
  switch (x.dtype()) {
    case DType::f32: return gelu_grad<float>(grad_x, grad_y, x, tanh);
    case DType::f64: return gelu_grad<double>(grad_x, grad_y, x, tanh);
    default: break;
  }
  fail<InternalError>("gelu_backward", "no cpu kernel for ", x.dtype());
}

}  // namespace ember::cpu
