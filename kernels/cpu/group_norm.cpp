// Group normalization of x (N, C, S) in G groups on the cpu device (the math is in
// tensor/backend_args.h's GroupNormForwardArgs and kernels/cuda/group_norm.cu).
//
// Split:  forward and the input gradient: the N*G (sample, group) blocks over OpenMP
//         threads, each (C/G)*S contiguous values; weight and bias gradients: channels
//         over threads, summing over samples in order (deterministic).
// Sums:   in double (kernels/cpu/norm_sums.h): the statistics in one pass of sums shifted
//         by the block's first value; the backward first sums, per (n, c), sg = sum_s g
//         and sgx = sum_s g (x - mean) into one (N, C, 2) buffer of doubles (the only
//         temporary), from which both the group sums of the input gradient
//         (sum gw = sum_c w sg, sum gw xhat = rstd sum_c w sgx) and dweight, dbias follow.
// Cost:   forward ~5 FLOPs per element, bytes 2 reads + 1 write of x's size; backward ~7
//         FLOPs per element, bytes 2 reads of g and x + 1 write.
#include <omp.h>

#include <cmath>
#include <vector>

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
void forward(const GroupNormForwardArgs& a, const GroupNormParams& p) {
  const int64_t N = a.x.size(0), C = a.x.size(1), S = a.x.size(2), G = p.groups;
  const int64_t Cg = C / G, K = Cg * S;  // channels and values per group
  const T* x = in<T>(a.x);               // (N, C, S)
  const T *w = in<T>(a.weight), *b = in<T>(a.bias);
  T *y = out<T>(a.y), *mean = out<T>(a.mean), *rstd = out<T>(a.rstd);
  const bool parallel = a.x.numel() >= kParallelGrain && N * G > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    const T* xb = x + ng * K;
    const double shift = static_cast<double>(xb[0]);
    double s1 = 0, s2 = 0;
    norm::shifted_sums(xb, K, shift, s1, s2);
    const double m1 = s1 / static_cast<double>(K);
    const double var = std::max(s2 / static_cast<double>(K) - m1 * m1, 0.0);
    const double mu = shift + m1, r = 1.0 / std::sqrt(var + p.eps);
    mean[ng] = static_cast<T>(mu);
    rstd[ng] = static_cast<T>(r);
    const int64_t c0 = (ng % G) * Cg;
    for (int64_t j = 0; j < Cg; ++j) {
      const int64_t c = c0 + j;
      const double scale = w != nullptr ? r * static_cast<double>(w[c]) : r;
      const T bias = b != nullptr ? b[c] : T(0);
      norm::affine(xb + j * S, S, static_cast<T>(mu), static_cast<T>(scale), bias,
                   y + ng * K + j * S);
    }
  }
}

template <typename T>
void backward(const GroupNormBackwardArgs& a, const GroupNormParams& p) {
  const int64_t N = a.x.size(0), C = a.x.size(1), S = a.x.size(2), G = p.groups;
  const int64_t Cg = C / G, K = Cg * S;
  const T *g = in<T>(a.grad_y), *x = in<T>(a.x);                               // (N, C, S)
  const T *mean = in<T>(a.mean), *rstd = in<T>(a.rstd), *w = in<T>(a.weight);  // (N, G)
  T *dx = out<T>(a.grad_x), *dw = out<T>(a.grad_weight), *db = out<T>(a.grad_bias);
  std::vector<double> sums(static_cast<size_t>(N * C * 2));  // (N, C, 2): sg, sgx
  const bool parallel = a.x.numel() >= kParallelGrain && N * G > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    const double mu = static_cast<double>(mean[ng]), r = static_cast<double>(rstd[ng]);
    const int64_t n = ng / G, c0 = (ng % G) * Cg;
    double sgw = 0, sgwx = 0;  // sum g w, sum g w (x - mean) over the group
    for (int64_t j = 0; j < Cg; ++j) {
      const int64_t c = c0 + j, o = (n * C + c) * S;
      double sg = 0, sgx = 0;
      norm::grad_sums(g + o, x + o, S, mu, sg, sgx);
      sums[static_cast<size_t>((n * C + c) * 2)] = sg;
      sums[static_cast<size_t>((n * C + c) * 2 + 1)] = sgx;
      const double wc = w != nullptr ? static_cast<double>(w[c]) : 1.0;
      sgw += wc * sg;
      sgwx += wc * sgx;
    }
    if (dx == nullptr) continue;
    // dx = r (gw - mean(gw) - xhat mean(gw xhat)) = r w g + B (x - mean) + Kc, with
    // B = -r^3 sgwx / K and Kc = -r sgw / K.
    const double B = -r * r * r * sgwx / static_cast<double>(K);
    const double Kc = -r * sgw / static_cast<double>(K);
    for (int64_t j = 0; j < Cg; ++j) {
      const int64_t c = c0 + j, o = (n * C + c) * S;
      const double A = w != nullptr ? r * static_cast<double>(w[c]) : r;
      norm::combine(g + o, x + o, S, static_cast<T>(mu), static_cast<T>(A), static_cast<T>(B),
                    static_cast<T>(Kc), dx + o);
    }
  }
  if (dw == nullptr && db == nullptr) return;
  const bool cols_parallel = N * C >= 1024 && C > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (cols_parallel)
  for (int64_t c = 0; c < C; ++c) {
    double sw = 0, sb = 0;
    for (int64_t n = 0; n < N; ++n) {
      const size_t at = static_cast<size_t>((n * C + c) * 2);
      sw += sums[at + 1] * static_cast<double>(rstd[n * G + c / Cg]);
      sb += sums[at];
    }
    if (dw != nullptr) dw[c] = static_cast<T>(sw);
    if (db != nullptr) db[c] = static_cast<T>(sb);
  }
}

}  // namespace

void CpuBackend::group_norm_forward(const GroupNormForwardArgs& a, const GroupNormParams& p) {
  const FlushDenormals flush;
  if (is_half(a.x.dtype())) return half_ops::group_norm_forward(*this, a, p);  // issue 16
  norm::for_dtype("group_norm", a.x.dtype(), [&](auto tag) { forward<decltype(tag)>(a, p); });
}

void CpuBackend::group_norm_backward(const GroupNormBackwardArgs& a, const GroupNormParams& p) {
  const FlushDenormals flush;
  if (is_half(a.x.dtype())) return half_ops::group_norm_backward(*this, a, p);  // issue 16
  norm::for_dtype("group_norm_backward", a.x.dtype(),
                  [&](auto tag) { backward<decltype(tag)>(a, p); });
}

}  // namespace ember::cpu
