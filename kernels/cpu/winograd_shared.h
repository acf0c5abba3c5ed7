// What the cpu backend's two layouts of Winograd F(4x4, 3x3) share
// (kernels/cpu/conv2d_winograd.cpp, kernels/cpu/conv2d_winograd_channels.cpp): sizes, and
// the filter transforms with the loops over all filters that run them.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ember::cpu::winograd {

// V and M of one block of tiles: about a core's L2.
inline constexpr int64_t kBlockBytes = 1280 * 1024;
// Below this many multiply-adds of the GEMMs a call runs on one thread.
inline constexpr int64_t kParallelMacs = 1 << 16;
// Positions of a 6x6 transformed tile: one GEMM each.
inline constexpr int64_t kXi = 36;
// Elements between the per-xi slices of V and M beyond their size: one cache line, so the
// 36 streams a transform writes do not share a cache set.
inline constexpr int64_t kPad = 16;

// Whether the 36 GEMMs of a group with Cg input and Kg output channels run on ember's packed
// f32 GEMM (dense::gemm) rather than Eigen's: with 32 channels or more a side (ResNet
// layers 32->32 at 14x14 and 64->64 at 56x56 8-12% faster fwd+bwd on a Zen 4, 10-15% on
// a Zen 5); with 16, packing a 16-wide side costs more than it gains (16->16 at 28x28 20%
// slower on the Zen 4).
inline bool packed_pays(int64_t Cg, int64_t Kg) { return Cg >= 32 && Kg >= 32; }

// G of F(4x4, 3x3): the filter transform is U = G g G^T.
inline constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                                    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                    {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                    {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                    {0, 0, 1}};

// g (3x3) = G^T S G for S[xi * ss], the adjoint of the filter transform U = G g G^T.
template <typename T>
void filter_adjoint(const T* sv, int64_t ss, T* g) {
  double r[3][6] = {};
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t a = 0; a < 6; ++a)
      for (int64_t bb = 0; bb < 6; ++bb)
        r[i][bb] += kG[a][i] * static_cast<double>(sv[(6 * a + bb) * ss]);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double acc = 0;
      for (int64_t bb = 0; bb < 6; ++bb) acc += r[i][bb] * kG[bb][j];
      g[3 * i + j] = static_cast<T>(acc);
    }
}

// U (G, 36, Kg, Cg) = the transforms of w (G Kg, Cg, 3, 3). Work-shares its loop: call it
// from every thread of a parallel region (or outside one).
// A filter's 36 values lie Kg Cg apart in U, so the transforms run kFilterLanes channels of
// one output channel at a time, vectorized along c: each of the 36 rows of U gets whole
// 64-byte runs. (One filter at a time, its 36 scattered stores shared a cache set when
// Kg Cg is a multiple of 1 Ki: 64 -> 64 channels spent 8% of fwd+bwd here on a Zen 5.)
template <typename T>
void transform_filters(const T* w, int64_t G, int64_t Kg, int64_t Cg, T* U) {
  constexpr int64_t kFilterLanes = 16;
  T gc[6][3];  // kG in T: the f32 transforms run in f32
  for (int a = 0; a < 6; ++a)
    for (int i = 0; i < 3; ++i) gc[a][i] = static_cast<T>(kG[a][i]);
#pragma omp for schedule(static)
  for (int64_t gk = 0; gk < G * Kg; ++gk) {  // filter (g, k) of every input channel
    const int64_t g = gk / Kg, k = gk % Kg;
    T* u = U + (g * kXi * Kg + k) * Cg;  // xi's row of this k at u + xi Kg Cg
    for (int64_t c0 = 0; c0 < Cg; c0 += kFilterLanes) {
      const int64_t nc = std::min(kFilterLanes, Cg - c0);
      T taps[9][kFilterLanes];  // taps[3 i + j][c] = g_c[i][j]
      const T* src = w + (gk * Cg + c0) * 9;
      for (int64_t c = 0; c < nc; ++c)
        for (int t = 0; t < 9; ++t) taps[t][c] = src[c * 9 + t];
      T r[6][3][kFilterLanes];  // G g
      for (int a = 0; a < 6; ++a)
        for (int j = 0; j < 3; ++j)
          for (int64_t c = 0; c < nc; ++c)
            r[a][j][c] =
                gc[a][0] * taps[j][c] + gc[a][1] * taps[3 + j][c] + gc[a][2] * taps[6 + j][c];
      for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b) {
          T* dst = u + (6 * a + b) * Kg * Cg + c0;
          for (int64_t c = 0; c < nc; ++c)
            dst[c] = r[a][0][c] * gc[b][0] + r[a][1][c] * gc[b][1] + r[a][2][c] * gc[b][2];
        }
    }
  }
}

// Ut (G, 36, Cg, Kg) = each (Kg, Cg) matrix of U (G, 36, Kg, Cg) transposed, for products
// that read the filters as a row-major right operand. Work-shares its loop as
// transform_filters; U must be complete when it is called.
template <typename T>
void transpose_filters(const T* U, int64_t G, int64_t Kg, int64_t Cg, T* Ut) {
#pragma omp for schedule(static)
  for (int64_t m = 0; m < G * kXi; ++m) {
    const T* src = U + m * Kg * Cg;
    T* dst = Ut + m * Kg * Cg;
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t k = 0; k < Kg; ++k) dst[c * Kg + k] = src[k * Cg + c];
  }
}

// gw (G Kg, Cg, 3, 3) = the adjoint transforms of the sum of the team's S (G, 36, Kg, Cg),
// ssize apart from S on (the sum is left in the first). Work-shares its loops as
// transform_filters; every thread's S must be complete when it is called.
template <typename T>
void sum_adjoint_filters(T* S, int64_t ssize, int64_t team, int64_t G, int64_t Kg, int64_t Cg,
                         T* gw) {
#pragma omp for schedule(static)
  for (int64_t e = 0; e < ssize; ++e) {
    T sum = S[e];
    for (int64_t t = 1; t < team; ++t) sum += S[t * ssize + e];
    S[e] = sum;
  }
#pragma omp for schedule(static)
  for (int64_t gk = 0; gk < G * Kg; ++gk) {
    const int64_t g = gk / Kg, k = gk % Kg;
    for (int64_t c = 0; c < Cg; ++c)
      filter_adjoint(S + (g * kXi * Kg + k) * Cg + c, Kg * Cg, gw + (gk * Cg + c) * 9);
  }
}

}  // namespace ember::cpu::winograd
