// Fused optimizer steps of the cpu backend: one pass over param, grad and state per
// element, in the parameter's precision with f64 scalars; a bf16/f16 parameter (and its
// gradient) is read into f32, updated against f32 state (tensor/optim_state_dtype.h) and
// rounded once (W is the parameter's storage type, T = opmath_t<W> the math's and state's).
//
// Adam (torch.optim.Adam / AdamW):
//   g = maximize ? -grad : grad;  Adam: g += wd * p;  AdamW: p *= 1 - lr * wd
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  (amsgrad: vmax = max(vmax, v))
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v or vmax) / sqrt(1 - b2^t) + eps)
//   bytes per element: read p, g, m, v; write p, m, v = 28 (f32), + 8 with amsgrad
// SGD (torch.optim.SGD):
//   d = maximize ? -grad : grad;  d += wd * p
//   momentum: buf = first ? d : mu buf + (1 - dampening) d;  d = nesterov ? d + mu buf : buf
//   p -= lr d
// Norm (clip_grad_norm_): sum |x|^q over every element of a group of tensors in f64
//   (q = 1 and 2 without pow), or max |x| for q = inf, NaN propagating.
// Tensors above kParallelGrain elements are split over OpenMP threads.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"

namespace ember::cpu {

namespace {

// The loops are plain functions of pointers and scalars, with the variant (amsgrad, the
// momentum flavour) a template parameter: an OpenMP simd loop inside a lambda that
// captures them by reference was measured 2.5-7x slower (the captures are reloaded
// through the closure on every iteration).
template <typename T>
struct AdamScalars {
  T b1, b2, one_minus_b1, one_minus_b2, step_size, inv_bc2_sqrt, eps, l2, decay, sign;
};

template <typename W, typename T, bool Amsgrad>
void adam_loop(W* __restrict param, const W* __restrict grad, T* __restrict m, T* __restrict v,
               T* __restrict vmax, int64_t n, const AdamScalars<T> c, bool parallel) {
  const T b1 = c.b1, b2 = c.b2, one_minus_b1 = c.one_minus_b1, one_minus_b2 = c.one_minus_b2;
  const T step_size = c.step_size, inv_bc2_sqrt = c.inv_bc2_sqrt, eps = c.eps, l2 = c.l2,
          decay = c.decay, sign = c.sign;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    T w = static_cast<T>(param[i]);
    T g = sign * static_cast<T>(grad[i]) + l2 * w;
    w *= decay;
    T mi = b1 * m[i] + one_minus_b1 * g;
    T vi = b2 * v[i] + one_minus_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    T denom_v = vi;
    if constexpr (Amsgrad) {
      denom_v = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = denom_v;
    }
    param[i] = W(w - step_size * mi / (std::sqrt(denom_v) * inv_bc2_sqrt + eps));
  }
}

template <typename W>
void adam_one(const AdamTensors& t, const AdamStepParams& p) {
  using T = opmath_t<W>;
  W* param = static_cast<W*>(t.param->raw_data());
  const W* grad = static_cast<const W*>(t.grad->raw_data());
  T* m = static_cast<T*>(t.exp_avg->raw_data());
  T* v = static_cast<T*>(t.exp_avg_sq->raw_data());
  T* vmax = p.amsgrad ? static_cast<T*>(t.max_exp_avg_sq->raw_data()) : nullptr;
  const int64_t n = t.param->numel();
  const auto step = static_cast<double>(t.step);
  const double bc1 = 1.0 - std::pow(p.beta1, step);
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(p.beta2, step));
  const AdamScalars<T> c{
      static_cast<T>(p.beta1),
      static_cast<T>(p.beta2),
      static_cast<T>(1.0 - p.beta1),
      static_cast<T>(1.0 - p.beta2),
      static_cast<T>(p.lr / bc1),
      static_cast<T>(1.0 / bc2_sqrt),
      static_cast<T>(p.eps),
      p.decoupled_weight_decay ? T(0) : static_cast<T>(p.weight_decay),
      p.decoupled_weight_decay ? static_cast<T>(1.0 - p.lr * p.weight_decay) : T(1),
      p.maximize ? T(-1) : T(1)};
  const bool parallel = n >= kParallelGrain && !omp_in_parallel();
  if (vmax == nullptr) {
    adam_loop<W, T, false>(param, grad, m, v, vmax, n, c, parallel);
  } else {
    adam_loop<W, T, true>(param, grad, m, v, vmax, n, c, parallel);
  }
}

template <typename T>
struct SgdScalars {
  T lr, wd, mu, damp, sign;
};

template <typename W, typename T, bool Momentum, bool First, bool Nesterov>
void sgd_loop(W* __restrict param, const W* __restrict grad, T* __restrict buf, int64_t n,
              const SgdScalars<T> c, bool parallel) {
  const T lr = c.lr, wd = c.wd, mu = c.mu, damp = c.damp, sign = c.sign;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    T w = static_cast<T>(param[i]);
    T d = sign * static_cast<T>(grad[i]) + wd * w;
    if constexpr (Momentum) {
      T b = First ? d : mu * buf[i] + damp * d;
      buf[i] = b;
      d = Nesterov ? d + mu * b : b;
    }
    param[i] = W(w - lr * d);
  }
}

template <typename W>
void sgd_one(const SgdTensors& t, const SgdStepParams& p) {
  using T = opmath_t<W>;
  W* param = static_cast<W*>(t.param->raw_data());
  const W* grad = static_cast<const W*>(t.grad->raw_data());
  T* buf = p.momentum != 0.0 ? static_cast<T*>(t.momentum_buffer->raw_data()) : nullptr;
  const int64_t n = t.param->numel();
  const SgdScalars<T> c{static_cast<T>(p.lr), static_cast<T>(p.weight_decay),
                        static_cast<T>(p.momentum), static_cast<T>(1.0 - p.dampening),
                        p.maximize ? T(-1) : T(1)};
  const bool parallel = n >= kParallelGrain && !omp_in_parallel();
  if (buf == nullptr) return sgd_loop<W, T, false, false, false>(param, grad, buf, n, c, parallel);
  if (t.first_step) {
    return p.nesterov ? sgd_loop<W, T, true, true, true>(param, grad, buf, n, c, parallel)
                      : sgd_loop<W, T, true, true, false>(param, grad, buf, n, c, parallel);
  }
  return p.nesterov ? sgd_loop<W, T, true, false, true>(param, grad, buf, n, c, parallel)
                    : sgd_loop<W, T, true, false, false>(param, grad, buf, n, c, parallel);
}

template <typename T>
double norm_one(const Tensor& t, double q) {
  const T* x = static_cast<const T*>(t.raw_data());
  const int64_t n = t.numel();
  const bool parallel = n >= kParallelGrain && !omp_in_parallel();
  double acc = 0;
  if (std::isinf(q)) {
    bool nan = false;
#pragma omp parallel for reduction(max : acc) reduction(|| : nan) schedule(static) if (parallel)
    for (int64_t i = 0; i < n; ++i) {
      const double a = std::fabs(static_cast<double>(x[i]));
      nan = nan || std::isnan(a);
      acc = a > acc ? a : acc;
    }
    return nan ? std::numeric_limits<double>::quiet_NaN() : acc;
  }
  if (q == 1.0) {
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (parallel)
    for (int64_t i = 0; i < n; ++i) acc += std::fabs(static_cast<double>(x[i]));
  } else if (q == 2.0) {
#pragma omp parallel for simd reduction(+ : acc) schedule(static) if (parallel)
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  } else {
#pragma omp parallel for reduction(+ : acc) schedule(static) if (parallel)
    for (int64_t i = 0; i < n; ++i) acc += std::pow(std::fabs(static_cast<double>(x[i])), q);
  }
  return acc;
}

}  // namespace

void CpuBackend::multi_norm(const Tensor& out, const std::vector<const Tensor*>& tensors,
                            double norm_type) {
  const FlushDenormals flush;
  double total = 0;
  for (const Tensor* t : tensors) {
    double v = 0;
    switch (t->dtype()) {
      case DType::f32: v = norm_one<float>(*t, norm_type); break;
      case DType::f64: v = norm_one<double>(*t, norm_type); break;
      case DType::bf16: v = norm_one<bf16>(*t, norm_type); break;  // issue 16
      case DType::f16: v = norm_one<f16>(*t, norm_type); break;
      default: fail<DTypeError>("multi_tensor_norm", "no cpu kernel for ", t->dtype());
    }
    total = std::isinf(norm_type)
                ? (std::isnan(v) || std::isnan(total) ? std::numeric_limits<double>::quiet_NaN()
                                                      : std::max(total, v))
                : total + v;
  }
  *static_cast<double*>(out.raw_data()) = total;
}

void CpuBackend::adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p) {
  const FlushDenormals flush;
  for (const AdamTensors& t : tensors) {
    switch (t.param->dtype()) {
      case DType::f32: adam_one<float>(t, p); break;
      case DType::f64: adam_one<double>(t, p); break;
      case DType::bf16: adam_one<bf16>(t, p); break;  // f32 state (issue 16)
      case DType::f16: adam_one<f16>(t, p); break;
      default: fail<DTypeError>("adam_step", "no cpu kernel for ", t.param->dtype());
    }
  }
}

void CpuBackend::sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p) {
  const FlushDenormals flush;
  for (const SgdTensors& t : tensors) {
    switch (t.param->dtype()) {
      case DType::f32: sgd_one<float>(t, p); break;
      case DType::f64: sgd_one<double>(t, p); break;
      case DType::bf16: sgd_one<bf16>(t, p); break;  // f32 state (issue 16)
      case DType::f16: sgd_one<f16>(t, p); break;
      default: fail<DTypeError>("sgd_step", "no cpu kernel for ", t.param->dtype());
    }
  }
}

}  // namespace ember::cpu
