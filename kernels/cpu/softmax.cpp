// Row-wise softmax / log_softmax of the cpu backend: in (R, K) -> out (R, K).
// Three passes per row: max (for stability), sum of exp(x - max), then the output.
// bf16/f16 rows (issue 16) are widened one at a time into a thread-local f32 row, run
// through the f32 body and rounded once on store.
#include <omp.h>

#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/half_rows.h"
#include "kernels/cpu/loops.h"

namespace ember::cpu {

namespace {

// One row x (K) -> y (K); y may alias x.
template <typename T>
void softmax_row(T* y, const T* x, int64_t K, bool log) {
  T mx = x[0];
  for (int64_t k = 1; k < K; ++k) mx = x[k] > mx || std::isnan(x[k]) ? x[k] : mx;
  if (std::isinf(mx) && mx < 0) mx = 0;  // a row of -inf: exp gives 0s, not NaNs from inf-inf
  double sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(x[k] - mx));
  if (log) {
    const T lse = static_cast<T>(std::log(sum));
    for (int64_t k = 0; k < K; ++k) y[k] = x[k] - mx - lse;
  } else {
    const T inv = static_cast<T>(1.0 / sum);
    for (int64_t k = 0; k < K; ++k) y[k] = std::exp(x[k] - mx) * inv;
  }
}

template <typename T>
void softmax_rows(T* out, const T* in, int64_t R, int64_t K, bool log) {
  bool parallel = R * K >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    if constexpr (is_half_v<T>) {
      float* row = row_scratch(K, 0);  // (K)
      widen_row(in + r * K, row, K);
      softmax_row(row, row, K, log);
      narrow_row(row, out + r * K, K);
    } else {
      softmax_row(out + r * K, in + r * K, K, log);
    }
  }
}

}  // namespace

void CpuBackend::softmax(const Tensor& out, const Tensor& in, bool log) {
  const FlushDenormals flush;
  const int64_t R = in.size(0), K = in.size(1);
  switch (in.dtype()) {
    case DType::f32:
      return softmax_rows(static_cast<float*>(out.raw_data()),
                          static_cast<const float*>(in.raw_data()), R, K, log);
    case DType::f64:
      return softmax_rows(static_cast<double*>(out.raw_data()),
                          static_cast<const double*>(in.raw_data()), R, K, log);
    case DType::bf16:
      return softmax_rows(static_cast<bf16*>(out.raw_data()),
                          static_cast<const bf16*>(in.raw_data()), R, K, log);
    case DType::f16:
      return softmax_rows(static_cast<f16*>(out.raw_data()), static_cast<const f16*>(in.raw_data()),
                          R, K, log);
    default: fail<InternalError>("softmax", "no cpu kernel for ", in.dtype());
  }
}

}  // namespace ember::cpu
