// GradScaler's primitives on the cpu (issue 16, scaler).
//
// amp_unscale (PyTorch's _amp_foreach_non_finite_check_and_unscale_), per element of every
//   tensor: found |= !isfinite(x);  x = x * inv_scale  (f64 math for f64 tensors, f32 for
//   f32, as PyTorch's opmath). One read and one write per element, 1 FLOP; tensors above
//   kParallelGrain elements are split over OpenMP threads.
// amp_update_scale (PyTorch's _amp_update_scale_): a handful of scalar operations.
#include <cmath>
#include <cstdint>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace ember::cpu {

namespace {

// Unscales x (n) in place; returns whether an element was inf or NaN before scaling. A
// bf16/f16 element is multiplied in f32 and rounded once (issue 16, halfnn2), as torch's
// kernel does for half gradients.
template <typename T>
bool unscale_one(T* x, int64_t n, opmath_t<T> inv_scale) {
  bool bad = false;
#pragma omp parallel for reduction(|| : bad) schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    const opmath_t<T> v = x[i];
    bad = bad || !std::isfinite(v);
    x[i] = static_cast<T>(v * inv_scale);
  }
  return bad;
}

}  // namespace

void CpuBackend::amp_unscale(const std::vector<const Tensor*>& tensors, const Tensor& found_inf,
                             const Tensor& inv_scale) {
  const FlushDenormals flush;
  const float inv = *static_cast<const float*>(inv_scale.raw_data());
  bool bad = false;
  for (const Tensor* t : tensors) {
    switch (t->dtype()) {
      case DType::f32:
        bad = unscale_one(static_cast<float*>(t->raw_data()), t->numel(), inv) || bad;
        break;
      case DType::f64:
        bad = unscale_one(static_cast<double*>(t->raw_data()), t->numel(),
                          static_cast<double>(inv)) ||
              bad;
        break;
      case DType::bf16:  // issue 16, halfnn2
        bad = unscale_one(static_cast<bf16*>(t->raw_data()), t->numel(), inv) || bad;
        break;
      case DType::f16:
        bad = unscale_one(static_cast<f16*>(t->raw_data()), t->numel(), inv) || bad;
        break;
      default: fail<DTypeError>("amp_unscale", "no cpu kernel for ", t->dtype());
    }
  }
  if (bad) *static_cast<float*>(found_inf.raw_data()) = 1.0f;
}

void CpuBackend::amp_update_scale(const Tensor& scale, const Tensor& growth_tracker,
                                  const Tensor& found_inf, const AmpScaleParams& p) {
  const FlushDenormals flush;
  float* s = static_cast<float*>(scale.raw_data());
  int64_t* tracker = static_cast<int64_t*>(growth_tracker.raw_data());
  if (*static_cast<const float*>(found_inf.raw_data()) != 0.0f) {
    *s = static_cast<float>(*s * p.backoff_factor);
    *tracker = 0;
    return;
  }
  const int64_t successful = *tracker + 1;
  if (successful == p.growth_interval) {
    const float grown = static_cast<float>(*s * p.growth_factor);
    if (std::isfinite(grown)) *s = grown;  // an overflowing scale stays where it was
    *tracker = 0;
  } else {
    *tracker = successful;
  }
}

}  // namespace ember::cpu
