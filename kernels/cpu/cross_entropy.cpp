// Fused log-softmax + NLL of the cpu backend: one pass for the row max, one for the
// log-sum-exp and the loss terms; the backward writes each row's gradient in one pass.
//   forward  row_i = (1 - eps) w_t (lse - z_t) + eps / C * sum_c w_c (lse - z_c)
//   backward d row_i / d z_j = (1 - eps) w_t (p_j - [j == t]) + eps / C (p_j W - w_j),
//            p = softmax(z_i), W = sum_c w_c
// Rows are split over OpenMP threads; bad targets are found first, on one thread.
#include <omp.h>

#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"
#include "kernels/half_operands.h"

namespace ember::cpu {

namespace {

void check_targets(const int64_t* t, int64_t R, int64_t C, int64_t ignore) {
  for (int64_t r = 0; r < R; ++r)
    if (t[r] != ignore && (t[r] < 0 || t[r] >= C))
      fail<IndexError>("cross_entropy", "target ", t[r], " at row ", r, " is out of bounds for ", C,
                       " classes (and is not ignore_index ", ignore, ")");
}

template <typename T>
void forward(T* loss, T* lse_out, const T* z, const int64_t* t, const T* w, int64_t R, int64_t C,
             const CrossEntropyParams& p) {
  const double eps = p.label_smoothing;
  const bool parallel = R * C >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    const T* row = z + r * C;
    double mx = row[0];
    for (int64_t c = 1; c < C; ++c) mx = row[c] > mx ? row[c] : mx;
    double s = 0, wsum_z = 0, wsum = 0;
    for (int64_t c = 0; c < C; ++c) {
      s += std::exp(static_cast<double>(row[c]) - mx);
      double wc = w ? static_cast<double>(w[c]) : 1.0;
      wsum_z += wc * static_cast<double>(row[c]);
      wsum += wc;
    }
    double lse = mx + std::log(s);
    lse_out[r] = static_cast<T>(lse);
    if (t[r] == p.ignore_index) {
      loss[r] = T(0);
      continue;
    }
    double wt = w ? static_cast<double>(w[t[r]]) : 1.0;
    double nll = wt * (lse - static_cast<double>(row[t[r]]));
    double smooth = wsum * lse - wsum_z;
    loss[r] = static_cast<T>((1.0 - eps) * nll + eps / static_cast<double>(C) * smooth);
  }
}

template <typename T>
void backward(T* gz, const T* gl, const T* z, const T* lse, const int64_t* t, const T* w, int64_t R,
              int64_t C, const CrossEntropyParams& p) {
  const double eps = p.label_smoothing;
  double W = 0;
  for (int64_t c = 0; c < C; ++c) W += w ? static_cast<double>(w[c]) : 1.0;
  const bool parallel = R * C >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    T* out = gz + r * C;
    if (t[r] == p.ignore_index) {
      for (int64_t c = 0; c < C; ++c) out[c] = T(0);
      continue;
    }
    const T* row = z + r * C;
    const double g = gl[r], l = lse[r];
    const double wt = w ? static_cast<double>(w[t[r]]) : 1.0;
    const double a = (1.0 - eps) * wt, b = eps / static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      double pc = std::exp(static_cast<double>(row[c]) - l);
      double wc = w ? static_cast<double>(w[c]) : 1.0;
      double d = a * (pc - (c == t[r] ? 1.0 : 0.0)) + b * (pc * W - wc);
      out[c] = static_cast<T>(g * d);
    }
  }
}

}  // namespace

void CpuBackend::cross_entropy_forward(const CrossEntropyForwardArgs& a,
                                       const CrossEntropyParams& p) {
  const FlushDenormals flush;
  if (is_half(a.logits.dtype())) return half_ops::cross_entropy_forward(*this, a, p);  // issue 16
  const Tensor &loss = a.loss, &lse = a.lse, &logits = a.logits, &target = a.target,
               &weight = a.weight;
  const int64_t R = logits.size(0), C = logits.size(1);
  const auto* t = static_cast<const int64_t*>(target.raw_data());
  check_targets(t, R, C, p.ignore_index);
  switch (logits.dtype()) {
    case DType::f32:
      return forward(static_cast<float*>(loss.raw_data()), static_cast<float*>(lse.raw_data()),
                     static_cast<const float*>(logits.raw_data()), t,
                     weight.defined() ? static_cast<const float*>(weight.raw_data()) : nullptr, R,
                     C, p);
    case DType::f64:
      return forward(static_cast<double*>(loss.raw_data()), static_cast<double*>(lse.raw_data()),
                     static_cast<const double*>(logits.raw_data()), t,
                     weight.defined() ? static_cast<const double*>(weight.raw_data()) : nullptr, R,
                     C, p);
    default: fail<InternalError>("cross_entropy", "no cpu kernel for ", logits.dtype());
  }
}

void CpuBackend::cross_entropy_backward(const CrossEntropyBackwardArgs& a,
                                        const CrossEntropyParams& p) {
  const FlushDenormals flush;
  if (is_half(a.logits.dtype())) return half_ops::cross_entropy_backward(*this, a, p);  // issue 16
  const Tensor &grad_logits = a.grad_logits, &grad_loss = a.grad_loss, &logits = a.logits;
  const Tensor &lse = a.lse, &target = a.target, &weight = a.weight;
  const int64_t R = logits.size(0), C = logits.size(1);
  const auto* t = static_cast<const int64_t*>(target.raw_data());
  switch (logits.dtype()) {
    case DType::f32:
      return backward(
          static_cast<float*>(grad_logits.raw_data()),
          static_cast<const float*>(grad_loss.raw_data()),
          static_cast<const float*>(logits.raw_data()), static_cast<const float*>(lse.raw_data()),
          t, weight.defined() ? static_cast<const float*>(weight.raw_data()) : nullptr, R, C, p);
    case DType::f64:
      return backward(
          static_cast<double*>(grad_logits.raw_data()),
          static_cast<const double*>(grad_loss.raw_data()),
          static_cast<const double*>(logits.raw_data()), static_cast<const double*>(lse.raw_data()),
          t, weight.defined() ? static_cast<const double*>(weight.raw_data()) : nullptr, R, C, p);
    default: fail<InternalError>("cross_entropy", "no cpu kernel for ", logits.dtype());
  }
}

}  // namespace ember::cpu
