// The vector helpers and register tiles of ember's own f32 GEMMs (gemm_packed.cpp,
// gemm_narrow.cpp): one vector type per build, AVX-512 (16 lanes) or AVX2 with FMA (8), and
// a tile of R rows x NV vectors of c that a micro-kernel keeps in registers over the depth.
// EMBER_GEMM_PACKED says whether this build has them; without, neither GEMM is built.
#pragma once

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define EMBER_GEMM_PACKED 1
#else
#define EMBER_GEMM_PACKED 0
#endif

#include <cstdint>

#if EMBER_GEMM_PACKED
namespace ember::cpu::gemm_simd {

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec vload(const float* p) { return _mm512_load_ps(p); }
inline Vec vloadu(const float* p) { return _mm512_loadu_ps(p); }
inline void vstoreu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec vbcast(const float* p) { return _mm512_set1_ps(*p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec vzero() { return _mm512_setzero_ps(); }
// The first n lanes (n may be <= 0 or >= kLanes).
using Mask = __mmask16;
inline Mask lane_mask(int n) {
  return n <= 0 ? 0 : n >= kLanes ? 0xffff : static_cast<Mask>((1u << n) - 1);
}
inline Vec vload_masked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
inline void vstore_masked(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
#else
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec vload(const float* p) { return _mm256_load_ps(p); }
inline Vec vloadu(const float* p) { return _mm256_loadu_ps(p); }
inline void vstoreu(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline Vec vbcast(const float* p) { return _mm256_broadcast_ss(p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec vzero() { return _mm256_setzero_ps(); }
using Mask = __m256i;
inline Mask lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline Vec vload_masked(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
inline void vstore_masked(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
#endif

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A register tile of c, R rows x NV vectors: zeroed, and one depth step acc[i][v] +=
// a[i ars] b[v] (R broadcasts, R NV FMAs). Shared by the packed and the
// narrow micro-kernels.
template <int R, int NV>
[[gnu::always_inline]] inline void tile_zero(Vec (&acc)[R][NV]) {
#pragma GCC unroll 24
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = vzero();
}

template <int R, int NV>
[[gnu::always_inline]] inline void tile_step(Vec (&acc)[R][NV], const Vec (&b)[NV], const float* a,
                                             int64_t ars) {
#pragma GCC unroll 24
  for (int i = 0; i < R; ++i) {
    const Vec s = vbcast(a + i * ars);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = vfma(s, b[v], acc[i][v]);
  }
}

}  // namespace ember::cpu::gemm_simd
#endif
