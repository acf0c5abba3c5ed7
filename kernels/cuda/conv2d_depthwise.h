// Depthwise conv2d (one input channel per group, Cg = 1; Kg = K / G outputs each): direct
// kernels, since the implicit GEMM (conv2d.cu) would fill only Kg of each 64-row tile.
// Included by conv2d.cu only, which launches them when Cg == 1.
//
// Math:   out[n, k, p, q] = bias[k] + sum_{r, s} w[k, 0, r, s] x[n, k / Kg, h, v],
//         h = p sh - ph + r dh, v = q sw - pw + s dw (0 outside x).
// Split:  forward and backward-input: one thread per output element, a (n, channel)
//         plane per grid row (blockIdx.y, looping beyond 65535), the plane's pixels
//         grid-strided along x; each thread sums its R S (times Kg, backward-input) taps.
//         backward-weight: one block of 256 threads per filter tap (k, r, s), summing
//         over N P Q in a fixed order and reducing across the block: deterministic.
// Cost:   2 N K P Q R S FLOPs per primitive; bytes about sizeof(T) (N C H W + N K P Q +
//         K R S), the taps' re-reads of x or grad_out coming from L1/L2.
// Pre:    ConvGeom of the primitive (conv2d.cu's make_geom), Cg == 1.
#pragma once

#include <cstdint>

#include "kernels/cuda/conv2d_operands.h"
#include "kernels/cuda/device_utils.h"

namespace ember::EMBER_VARIANT::conv2d_detail {

constexpr int kDwThreads = 256;

// out (N, K, P, Q) from x (N, C, H, W), w (K, 1, R, S), bias (K) or null.
// S: the tensors' element type; T: the math's (f32 for bf16/f16, which are read into f32
// and rounded once on the store).
template <typename S, typename T = opmath_t<S>>
__global__ void __launch_bounds__(kDwThreads)
    conv2d_depthwise_forward(ConvGeom g, S* out, const S* x, const S* w, const S* bias) {
  for (int64_t plane = blockIdx.y; plane < int64_t{g.N} * g.K; plane += gridDim.y) {
    const int k = static_cast<int>(plane % g.K);
    const int64_t n = plane / g.K;
    const S* xp = x + (n * g.C + k / g.Kg) * g.HW;     // (H, W)
    const S* wp = w + static_cast<int64_t>(k) * g.RS;  // (R, S)
    const T b = bias != nullptr ? static_cast<T>(bias[k]) : T(0);
    for (int pq = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); pq < g.PQ;
         pq += static_cast<int>(gridDim.x * blockDim.x)) {
      int q;
      const int p = g.div_Q.divmod(pq, &q);
      T acc = T(0);
      for (int r = 0; r < g.R; ++r) {
        const int h = p * g.sh - g.ph + r * g.dh;
        if (!inside(h, g.H)) continue;
        for (int s = 0; s < g.S; ++s) {
          const int v = q * g.sw - g.pw + s * g.dw;
          if (inside(v, g.W))
            acc += static_cast<T>(wp[r * g.S + s]) * static_cast<T>(xp[h * g.W + v]);
        }
      }
      out[plane * g.PQ + pq] = S(acc + b);
    }
  }
}

// grad_x (N, C, H, W) from grad_out (N, K, P, Q), w (K, 1, R, S).
// S: the tensors' element type; T: the math's (f32 for bf16/f16, which are read into f32
// and rounded once on the store).
template <typename S, typename T = opmath_t<S>>
__global__ void __launch_bounds__(kDwThreads)
    conv2d_depthwise_backward_input(ConvGeom g, S* grad_x, const S* grad_out, const S* w) {
  for (int64_t plane = blockIdx.y; plane < int64_t{g.N} * g.C; plane += gridDim.y) {
    const int c = static_cast<int>(plane % g.C);
    const int64_t n = plane / g.C;
    for (int hw = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); hw < g.HW;
         hw += static_cast<int>(gridDim.x * blockDim.x)) {
      int v;
      const int h = g.div_W.divmod(hw, &v);
      T acc = T(0);
      for (int j = 0; j < g.Kg; ++j) {
        const int k = c * g.Kg + j;
        const S* gp = grad_out + (n * g.K + k) * g.PQ;  // (P, Q)
        const S* wp = w + static_cast<int64_t>(k) * g.RS;
        for (int r = 0; r < g.R; ++r) {
          const int t = h + g.ph - r * g.dh;
          int tr;
          if (t < 0) continue;
          const int p = g.div_sh.divmod(t, &tr);
          if (tr != 0 || p >= g.P) continue;
          for (int s = 0; s < g.S; ++s) {
            const int u = v + g.pw - s * g.dw;
            int ur;
            if (u < 0) continue;
            const int q = g.div_sw.divmod(u, &ur);
            if (ur == 0 && q < g.Q)
              acc += static_cast<T>(wp[r * g.S + s]) * static_cast<T>(gp[p * g.Q + q]);
          }
        }
      }
      grad_x[plane * g.HW + hw] = S(acc);
    }
  }
}

// grad_w (K, 1, R, S) from grad_out (N, K, P, Q), x (N, C, H, W): block (rs, k).
// S: the tensors' element type; T: the math's (f32 for bf16/f16, which are read into f32
// and rounded once on the store).
template <typename S, typename T = opmath_t<S>>
__global__ void __launch_bounds__(kDwThreads)
    conv2d_depthwise_backward_weight(ConvGeom g, S* grad_w, const S* grad_out, const S* x) {
  const int rs = static_cast<int>(blockIdx.x);
  int s;
  const int r = g.div_S.divmod(rs, &s);
  const int tid = static_cast<int>(threadIdx.x);
  for (int k = static_cast<int>(blockIdx.y); k < g.K; k += static_cast<int>(gridDim.y)) {
    T acc = T(0);
    for (int n = 0; n < g.N; ++n) {
      const S* gp = grad_out + (static_cast<int64_t>(n) * g.K + k) * g.PQ;
      const S* xp = x + (static_cast<int64_t>(n) * g.C + k / g.Kg) * g.HW;
      for (int pq = tid; pq < g.PQ; pq += kDwThreads) {
        int q;
        const int p = g.div_Q.divmod(pq, &q);
        const int h = p * g.sh - g.ph + r * g.dh, v = q * g.sw - g.pw + s * g.dw;
        if (inside(h, g.H) && inside(v, g.W))
          acc += static_cast<T>(gp[pq]) * static_cast<T>(xp[h * g.W + v]);
      }
    }
    acc = BlockGroup{tid, kDwThreads}.allreduce(acc, [](T a, T b) { return a + b; });
    if (tid == 0) grad_w[static_cast<int64_t>(k) * g.RS + rs] = S(acc);
  }
}

}  // namespace ember::EMBER_VARIANT::conv2d_detail
