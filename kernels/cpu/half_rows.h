// Row conversions between bf16/f16 and f32 for the cpu kernels that compute a 16-bit row in
// f32 and round it once on store (issue 16, PyTorch's opmath), without widening a whole
// tensor first: a kernel converts one row into a thread-local f32 buffer, runs its f32 body
// and rounds the row back.
//
// f16 uses F16C (`vcvtph2ps` / `vcvtps2ph` with round-to-nearest-even: subnormals exact,
// NaN quieted with its top payload bits, 65520 and up to inf, as tensor/half.h; a signalling
// f16 NaN, which vcvtph2ps would quiet, widens through the scalar code). bf16
// widens by a 16-bit shift and narrows with half.h's bit trick (add 0x7fff + the kept lsb,
// NaN quieted) on 8 lanes with AVX2, or with AVX512-BF16's `vcvtneps2bf16` on 16 lanes where
// the build's CPU has it (-march=native). That instruction rounds to nearest even and quiets
// NaN exactly as half.h does, but flushes f32 subnormals to zero: a block holding one takes
// the AVX2 code instead, so a result never depends on the CPU it ran on. Tails and builds
// without AVX2/F16C take the scalar conversions of tensor/half.h.
#pragma once

#include <omp.h>

#include <cstdint>
#include <vector>

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#define EMBER_HALF_ROWS_SIMD 1
#else
#define EMBER_HALF_ROWS_SIMD 0
#endif
#if EMBER_HALF_ROWS_SIMD && defined(__AVX512BF16__) && defined(__AVX512VL__)
#include <cstring>
#define EMBER_HALF_ROWS_AVX512BF16 1
#else
#define EMBER_HALF_ROWS_AVX512BF16 0
#endif

#include "kernels/cpu/loops.h"
#include "tensor/half.h"

namespace ember::cpu {

// dst[0, n) = src[0, n) as float (exact).
inline void widen_row(const bf16* src, float* dst, int64_t n) {
  int64_t i = 0;
#if EMBER_HALF_ROWS_SIMD
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    const __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
  }
#endif
  for (; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

inline void widen_row(const f16* src, float* dst, int64_t n) {
  int64_t i = 0;
#if EMBER_HALF_ROWS_SIMD
  const __m128i exp_quiet = _mm_set1_epi16(0x7e00), snan_exp = _mm_set1_epi16(0x7c00);
  const __m128i mant = _mm_set1_epi16(0x03ff);
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    // vcvtph2ps quiets a signalling NaN, half.h keeps its bits: such lanes go scalar.
    const __m128i top = _mm_cmpeq_epi16(_mm_and_si128(h, exp_quiet), snan_exp);
    const __m128i no_mant = _mm_cmpeq_epi16(_mm_and_si128(h, mant), _mm_setzero_si128());
    if (_mm_movemask_epi8(_mm_andnot_si128(no_mant, top)) != 0) {
      for (int64_t k = i; k < i + 8; ++k) dst[k] = static_cast<float>(src[k]);
      continue;
    }
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}

// dst[0, n) = src[0, n) rounded to nearest, ties to even (one rounding).
inline void narrow_row(const float* src, bf16* dst, int64_t n) {
  int64_t i = 0;
#if EMBER_HALF_ROWS_AVX512BF16
  const __m512i exp_bits = _mm512_set1_epi32(0x7f800000), mag_bits = _mm512_set1_epi32(0x7fffffff);
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_loadu_ps(src + i);
    const __m512i xi = _mm512_castps_si512(x);
    // Subnormal lanes: exponent 0, magnitude not 0 (the instruction would flush them).
    const __mmask16 exp0 = _mm512_testn_epi32_mask(xi, exp_bits);
    if (_mm512_mask_test_epi32_mask(exp0, xi, mag_bits) != 0) break;  // AVX2 code from here
    const __m256bh h = _mm512_cvtneps_pbh(x);
    std::memcpy(static_cast<void*>(dst + i), &h, sizeof h);
  }
#endif
#if EMBER_HALF_ROWS_SIMD
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
  const __m256i quiet = _mm256_set1_epi32(0x0040);
  for (; i + 8 <= n; i += 8) {
    const __m256i x = _mm256_castps_si256(_mm256_loadu_ps(src + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), one);
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(bias, lsb)), 16);
    const __m256i nan_bits = _mm256_or_si256(_mm256_srli_epi32(x, 16), quiet);
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs_mask), inf);
    const __m256i r = _mm256_blendv_epi8(rounded, nan_bits, is_nan);  // (8) 32-bit lanes
    // Pack the low 16 bits of each lane (values < 65536, so unsigned saturation is exact).
    const __m128i packed =
        _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), packed);
  }
#endif
  for (; i < n; ++i) dst[i] = bf16(src[i]);
}

inline void narrow_row(const float* src, f16* dst, int64_t n) {
  int64_t i = 0;
#if EMBER_HALF_ROWS_SIMD
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
  for (; i < n; ++i) dst[i] = f16(src[i]);
}

// A thread-local f32 buffer of at least n elements; `slot` tells apart the buffers one
// kernel needs at once (input row, output row). Valid until the next call with that slot on
// this thread.
inline float* row_scratch(int64_t n, int slot) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

// Runs an f32 row kernel over the rows of a bf16/f16 x (R, N) into y (R, N): each row is
// widened into a thread-local f32 row, body(r, row) rewrites it in place, and it is rounded
// into y. Rows split over OpenMP threads as the f32 kernels split them.
template <typename H, typename Body>
void for_each_half_row(const H* x, H* y, int64_t R, int64_t N, Body body) {
  const bool parallel = R * N >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    float* row = row_scratch(N, 0);  // (N)
    widen_row(x + r * N, row, N);
    body(r, row);
    narrow_row(row, y + r * N, N);
  }
}

// A bf16/f16 vector (n) as f32 (empty when t is null): weights read by every row.
template <typename H>
std::vector<float> widened_vector(const H* t, int64_t n) {
  std::vector<float> v;
  if (t == nullptr) return v;
  v.resize(static_cast<size_t>(n));
  widen_row(t, v.data(), n);
  return v;
}

}  // namespace ember::cpu
