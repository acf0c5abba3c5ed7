// Batch normalization per channel of x (N, C, S) on the cpu device (the math is in
// tensor/backend_args.h's BatchNormForwardArgs and kernels/cuda/batch_norm.cu).
//
// Split:  channels over OpenMP threads; a channel is N strips of S contiguous values, each
//         strip one vectorized loop (kernels/cpu/norm_sums.h). No temporaries.
// Sums:   in double (f32 too): the statistics in one pass of sums shifted by the channel's
//         first value (s1 = sum (x - x0), s2 = sum (x - x0)^2, var = s2/n - (s1/n)^2), so x
//         is read twice in the forward (sums, then y = (x - mean) scale + b with scale =
//         invstd w) and twice in the backward (sum g and sum g (x - mean), then
//         dx = a g + b (x - mean) + c per channel).
// Cost:   forward ~5 FLOPs per element, bytes 2 reads + 1 write of x's size; backward ~7
//         FLOPs per element, bytes 2 reads of g and x + 1 write.
// S = 1 ((N, C) inputs) makes each strip one value: correct, not tuned.
#include <omp.h>

#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/norm_sums.h"
#include "kernels/half_operands.h"

namespace ember::cpu {

namespace {

using norm::in;
using norm::out;

template <typename T>
void forward(const BatchNormForwardArgs& a, const BatchNormParams& p) {
  const int64_t N = a.x.size(0), C = a.x.size(1), S = a.x.size(2);
  const double n = static_cast<double>(N * S);
  const T* x = in<T>(a.x);  // (N, C, S)
  const T *w = in<T>(a.weight), *b = in<T>(a.bias);
  T *y = out<T>(a.y), *mean = out<T>(a.mean), *invstd = out<T>(a.invstd);
  T *rm = out<T>(a.running_mean), *rv = out<T>(a.running_var);
  const auto* nbt = in<int64_t>(a.num_batches_tracked);
  // Cumulative average: the factor 1 / num_batches_tracked, read where it lives.
  const double factor = nbt != nullptr ? 1.0 / static_cast<double>(*nbt) : p.momentum;
  const bool parallel = a.x.numel() >= kParallelGrain && C > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < C; ++c) {
    double mu = 0, inv = 0;
    if (p.training) {
      const double shift = static_cast<double>(x[c * S]);
      double s1 = 0, s2 = 0;
      for (int64_t i = 0; i < N; ++i) norm::shifted_sums(x + (i * C + c) * S, S, shift, s1, s2);
      const double m1 = s1 / n;
      const double var = std::max(s2 / n - m1 * m1, 0.0);  // biased
      mu = shift + m1;
      inv = 1.0 / std::sqrt(var + p.eps);
      if (rm != nullptr) {
        rm[c] = static_cast<T>((1.0 - factor) * static_cast<double>(rm[c]) + factor * mu);
        rv[c] = static_cast<T>((1.0 - factor) * static_cast<double>(rv[c]) +
                               factor * var * n / (n - 1.0));
      }
    } else {
      mu = static_cast<double>(rm[c]);
      inv = 1.0 / std::sqrt(static_cast<double>(rv[c]) + p.eps);
    }
    mean[c] = static_cast<T>(mu);
    invstd[c] = static_cast<T>(inv);
    const double scale = w != nullptr ? inv * static_cast<double>(w[c]) : inv;
    const T shift = b != nullptr ? b[c] : T(0);
    for (int64_t i = 0; i < N; ++i) {
      const int64_t o = (i * C + c) * S;
      norm::affine(x + o, S, static_cast<T>(mu), static_cast<T>(scale), shift, y + o);
    }
  }
}

template <typename T>
void backward(const BatchNormBackwardArgs& a, const BatchNormParams& p) {
  const int64_t N = a.x.size(0), C = a.x.size(1), S = a.x.size(2);
  const double n = static_cast<double>(N * S);
  const T *g = in<T>(a.grad_y), *x = in<T>(a.x);  // (N, C, S)
  const T *mean = in<T>(a.mean), *invstd = in<T>(a.invstd), *w = in<T>(a.weight);
  T *dx = out<T>(a.grad_x), *dw = out<T>(a.grad_weight), *db = out<T>(a.grad_bias);
  // The eval input gradient needs no sums; the others do.
  const bool sums = dw != nullptr || db != nullptr || (dx != nullptr && p.training);
  const bool parallel = a.x.numel() >= kParallelGrain && C > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < C; ++c) {
    const double mu = static_cast<double>(mean[c]), inv = static_cast<double>(invstd[c]);
    double sg = 0, sgx = 0;  // sum g, sum g (x - mean)
    if (sums)
      for (int64_t i = 0; i < N; ++i) {
        const int64_t o = (i * C + c) * S;
        norm::grad_sums(g + o, x + o, S, mu, sg, sgx);
      }
    if (dw != nullptr) dw[c] = static_cast<T>(sgx * inv);
    if (db != nullptr) db[c] = static_cast<T>(sg);
    if (dx == nullptr) continue;
    // dx = A g + B (x - mean) + K: A = w invstd; in training B = -A invstd^2 sgx / n and
    // K = -A sg / n (the batch statistics' own gradient), in eval B = K = 0.
    const double A = w != nullptr ? static_cast<double>(w[c]) * inv : inv;
    const double B = p.training ? -A * inv * inv * sgx / n : 0.0;
    const double K = p.training ? -A * sg / n : 0.0;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t o = (i * C + c) * S;
      norm::combine(g + o, x + o, S, static_cast<T>(mu), static_cast<T>(A), static_cast<T>(B),
                    static_cast<T>(K), dx + o);
    }
  }
}

}  // namespace

void CpuBackend::batch_norm_forward(const BatchNormForwardArgs& a, const BatchNormParams& p) {
  const FlushDenormals flush;
  if (is_half(a.x.dtype())) return half_ops::batch_norm_forward(*this, a, p);  // issue 16
  norm::for_dtype("batch_norm", a.x.dtype(), [&](auto tag) { forward<decltype(tag)>(a, p); });
}

void CpuBackend::batch_norm_backward(const BatchNormBackwardArgs& a, const BatchNormParams& p) {
  const FlushDenormals flush;
  if (is_half(a.x.dtype())) return half_ops::batch_norm_backward(*this, a, p);  // issue 16
  norm::for_dtype("batch_norm_backward", a.x.dtype(),
                  [&](auto tag) { backward<decltype(tag)>(a, p); });
}

}  // namespace ember::cpu
