// Fused RMSprop, Adagrad, NAdam and RAdam steps of the cpu backend (torch.optim's
// formulas): one pass over param, grad and state per element, in the parameter's
// precision with the scalars rounded once from f64 (step-dependent ones from
// tensor/optim_coeffs.h). g = (maximize ? -grad : grad) + l2 * p throughout.
//
// RMSprop: sq = alpha sq + (1 - alpha) g^2
//          centered: ga = ga + (1 - alpha)(g - ga), den = sqrt(sq - ga^2) + eps
//          else den = sqrt(sq) + eps
//          momentum: buf = mu buf + g / den, p -= lr buf;  else p -= lr g / den
//   bytes per f32 element: read p, g, sq; write p, sq = 20 (+8 each for buf, ga)
// Adagrad: sum += g^2; p -= clr g / (sqrt(sum) + eps)             (20 bytes per f32)
// NAdam:   p *= decay (decoupled); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//          den = sqrt(v) inv_bc2_sqrt + eps; p -= (cg g + cm m) / den   (28 bytes)
// RAdam:   p *= decay (decoupled); m, v as NAdam;
//          p -= step_size m (rectified ? adaptive / (sqrt(v) + eps) : 1)  (28 bytes)
// Tensors above kParallelGrain elements are split over OpenMP threads; the loops are
// plain functions of pointers and scalars (see optim.cpp for why not lambdas).
#include <omp.h>

#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"
#include "tensor/optim_coeffs.h"

namespace ember::cpu {

namespace {

bool parallel_for(int64_t n) { return n >= kParallelGrain && !omp_in_parallel(); }

template <typename T>
T* data(const Tensor* t) {
  return t == nullptr ? nullptr : static_cast<T*>(t->raw_data());
}

// Calls f(item, T{}) with T the parameter's dtype (f32 or f64).
template <typename Item, typename F>
void for_each_tensor(const char* op, const std::vector<Item>& tensors, F f) {
  for (const Item& t : tensors) {
    switch (t.param->dtype()) {
      case DType::f32: f(t, float{}); break;
      case DType::f64: f(t, double{}); break;
      case DType::bf16: f(t, bf16{}); break;  // f32 state and math (issue 16)
      case DType::f16: f(t, f16{}); break;
      default: fail<DTypeError>(op, "no cpu kernel for ", t.param->dtype());
    }
  }
}

// ---- RMSprop -------------------------------------------------------------------------------

template <typename T>
struct RmspropScalars {
  T lr, alpha, one_minus_alpha, eps, l2, mu, sign;
};

template <typename W, typename T, bool Centered, bool Momentum>
void rmsprop_loop(W* __restrict param, const W* __restrict grad, T* __restrict sq,
                  T* __restrict buf, T* __restrict ga, int64_t n, const RmspropScalars<T> c,
                  bool parallel) {
  const T lr = c.lr, alpha = c.alpha, one_minus_alpha = c.one_minus_alpha, eps = c.eps, l2 = c.l2,
          mu = c.mu, sign = c.sign;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    const T w = static_cast<T>(param[i]);
    const T g = sign * static_cast<T>(grad[i]) + l2 * w;
    const T s = alpha * sq[i] + one_minus_alpha * g * g;
    sq[i] = s;
    T den;
    if constexpr (Centered) {
      const T a = ga[i] + one_minus_alpha * (g - ga[i]);
      ga[i] = a;
      den = std::sqrt(s - a * a) + eps;
    } else {
      den = std::sqrt(s) + eps;
    }
    if constexpr (Momentum) {
      const T b = mu * buf[i] + g / den;
      buf[i] = b;
      param[i] = W(w - lr * b);
    } else {
      param[i] = W(w - lr * g / den);
    }
  }
}

template <typename W>
void rmsprop_one(const RmspropTensors& t, const RmspropStepParams& p) {
  using T = opmath_t<W>;
  const RmspropScalars<T> c{static_cast<T>(p.lr),           static_cast<T>(p.alpha),
                            static_cast<T>(1.0 - p.alpha),  static_cast<T>(p.eps),
                            static_cast<T>(p.weight_decay), static_cast<T>(p.momentum),
                            p.maximize ? T(-1) : T(1)};
  W* w = data<W>(t.param);
  const W* g = data<W>(t.grad);
  T* sq = data<T>(t.square_avg);
  T* buf = p.momentum > 0 ? data<T>(t.momentum_buffer) : nullptr;
  T* ga = p.centered ? data<T>(t.grad_avg) : nullptr;
  const int64_t n = t.param->numel();
  const bool par = parallel_for(n);
  if (p.centered) {
    return buf ? rmsprop_loop<W, T, true, true>(w, g, sq, buf, ga, n, c, par)
               : rmsprop_loop<W, T, true, false>(w, g, sq, buf, ga, n, c, par);
  }
  return buf ? rmsprop_loop<W, T, false, true>(w, g, sq, buf, ga, n, c, par)
             : rmsprop_loop<W, T, false, false>(w, g, sq, buf, ga, n, c, par);
}

// ---- Adagrad -------------------------------------------------------------------------------

template <typename W, typename T>
void adagrad_loop(W* __restrict param, const W* __restrict grad, T* __restrict sum, int64_t n,
                  const T clr, const T eps, const T l2, const T sign, bool parallel) {
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    const T w = static_cast<T>(param[i]);
    const T g = sign * static_cast<T>(grad[i]) + l2 * w;
    const T s = sum[i] + g * g;
    sum[i] = s;
    param[i] = W(w - clr * g / (std::sqrt(s) + eps));
  }
}

template <typename W>
void adagrad_one(const AdagradTensors& t, const AdagradStepParams& p) {
  using T = opmath_t<W>;
  const int64_t n = t.param->numel();
  adagrad_loop<W, T>(data<W>(t.param), data<W>(t.grad), data<T>(t.sum), n,
                     static_cast<T>(adagrad_clr(p, t.step)), static_cast<T>(p.eps),
                     static_cast<T>(p.weight_decay), p.maximize ? T(-1) : T(1), parallel_for(n));
}

// ---- NAdam and RAdam -----------------------------------------------------------------------

// The scalars both share: the moments' coefficients, weight decay and the sign.
template <typename T>
struct MomentScalars {
  T b1, b2, one_minus_b1, one_minus_b2, eps, l2, decay, sign;
};

template <typename T, typename P>
MomentScalars<T> moment_scalars(const P& p) {
  return {static_cast<T>(p.beta1),
          static_cast<T>(p.beta2),
          static_cast<T>(1.0 - p.beta1),
          static_cast<T>(1.0 - p.beta2),
          static_cast<T>(p.eps),
          p.decoupled_weight_decay ? T(0) : static_cast<T>(p.weight_decay),
          p.decoupled_weight_decay ? static_cast<T>(1.0 - p.lr * p.weight_decay) : T(1),
          p.maximize ? T(-1) : T(1)};
}

template <typename W, typename T>
void nadam_loop(W* __restrict param, const W* __restrict grad, T* __restrict m, T* __restrict v,
                int64_t n, const MomentScalars<T> c, const T inv_bc2_sqrt, const T cg, const T cm,
                bool parallel) {
  const T b1 = c.b1, b2 = c.b2, one_minus_b1 = c.one_minus_b1, one_minus_b2 = c.one_minus_b2,
          eps = c.eps, l2 = c.l2, decay = c.decay, sign = c.sign;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    T w = static_cast<T>(param[i]);
    const T g = sign * static_cast<T>(grad[i]) + l2 * w;
    w *= decay;
    const T mi = b1 * m[i] + one_minus_b1 * g;
    const T vi = b2 * v[i] + one_minus_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const T den = std::sqrt(vi) * inv_bc2_sqrt + eps;
    param[i] = W(w - (cg * g + cm * mi) / den);
  }
}

template <typename W>
void nadam_one(const NadamTensors& t, const NadamStepParams& p) {
  using T = opmath_t<W>;
  const NadamCoeffs k = nadam_coeffs(p, t.step, t.mu_product);
  const int64_t n = t.param->numel();
  nadam_loop<W, T>(data<W>(t.param), data<W>(t.grad), data<T>(t.exp_avg), data<T>(t.exp_avg_sq), n,
                   moment_scalars<T>(p), static_cast<T>(k.inv_bc2_sqrt),
                   static_cast<T>(k.grad_coef), static_cast<T>(k.avg_coef), parallel_for(n));
}

template <typename W, typename T, bool Rectified>
void radam_loop(W* __restrict param, const W* __restrict grad, T* __restrict m, T* __restrict v,
                int64_t n, const MomentScalars<T> c, const T step_size, const T adaptive,
                bool parallel) {
  const T b1 = c.b1, b2 = c.b2, one_minus_b1 = c.one_minus_b1, one_minus_b2 = c.one_minus_b2,
          eps = c.eps, l2 = c.l2, decay = c.decay, sign = c.sign;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    T w = static_cast<T>(param[i]);
    const T g = sign * static_cast<T>(grad[i]) + l2 * w;
    w *= decay;
    const T mi = b1 * m[i] + one_minus_b1 * g;
    const T vi = b2 * v[i] + one_minus_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    if constexpr (Rectified) {
      param[i] = W(w - step_size * mi * adaptive / (std::sqrt(vi) + eps));
    } else {
      param[i] = W(w - step_size * mi);
    }
  }
}

template <typename W>
void radam_one(const RadamTensors& t, const RadamStepParams& p) {
  using T = opmath_t<W>;
  const RadamCoeffs k = radam_coeffs(p, t.step);
  const int64_t n = t.param->numel();
  auto* loop = k.rectified ? &radam_loop<W, T, true> : &radam_loop<W, T, false>;
  loop(data<W>(t.param), data<W>(t.grad), data<T>(t.exp_avg), data<T>(t.exp_avg_sq), n,
       moment_scalars<T>(p), static_cast<T>(k.step_size), static_cast<T>(k.adaptive),
       parallel_for(n));
}

}  // namespace

void CpuBackend::rmsprop_step(const std::vector<RmspropTensors>& tensors,
                              const RmspropStepParams& p) {
  const FlushDenormals flush;
  for_each_tensor("rmsprop_step", tensors,
                  [&]<typename T>(const RmspropTensors& t, T) { rmsprop_one<T>(t, p); });
}

void CpuBackend::adagrad_step(const std::vector<AdagradTensors>& tensors,
                              const AdagradStepParams& p) {
  const FlushDenormals flush;
  for_each_tensor("adagrad_step", tensors,
                  [&]<typename T>(const AdagradTensors& t, T) { adagrad_one<T>(t, p); });
}

void CpuBackend::nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p) {
  const FlushDenormals flush;
  for_each_tensor("nadam_step", tensors,
                  [&]<typename T>(const NadamTensors& t, T) { nadam_one<T>(t, p); });
}

void CpuBackend::radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p) {
  const FlushDenormals flush;
  for_each_tensor("radam_step", tensors,
                  [&]<typename T>(const RadamTensors& t, T) { radam_one<T>(t, p); });
}

}  // namespace ember::cpu
