// The strided runs of the cpu im2col and col2im (kernels/cpu/conv2d.cpp): one input row
// read every stride-th float into a col row, or a col row added back at that stride.
#pragma once

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ember::cpu::strided_runs {

// The stride-2 runs of im2col and col2im (the downsampling 3x3 and 1x1 layers of a ResNet):
// every other float of an input row, 16 (AVX-512) or 8 (AVX2) outputs per step. Masked
// loads and stores touch nothing past the run's last element. Runs shorter than
// kVectorRun, f64 and other strides keep the scalar loops. On a Zen 5, rows of 14 outputs
// (16->32 at 28x28) took 8% less time fwd+bwd; rows of 7 (32->64 at 14x14) took 5% more
// through the two-vector loop and 7% less forward through the one-vector path for n <= 8.
#if defined(__AVX512F__) || defined(__AVX2__)
inline constexpr int64_t kVectorRun = 4;
#endif
#if defined(__AVX512F__)
inline __mmask16 first_lanes(int64_t n) {
  return n <= 0 ? 0 : n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1);
}

// dst[i] = src[2 i], i < n.
inline void gather_even(float* dst, const float* src, int64_t n) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  if (n <= 8) {  // one load of at most 15 floats
    const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (2 * n - 1)) - 1), src);
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << n) - 1),
                          _mm512_permutexvar_ps(even, v));
    return;
  }
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t m = std::min<int64_t>(16, n - i), span = 2 * m - 1;
    const __m512 lo = _mm512_maskz_loadu_ps(first_lanes(span), src + 2 * i);
    const __m512 hi = _mm512_maskz_loadu_ps(first_lanes(span - 16), src + 2 * i + 16);
    _mm512_mask_storeu_ps(dst + i, first_lanes(m), _mm512_permutex2var_ps(lo, even, hi));
  }
}

// dst[2 i] += src[i], i < n; the odd elements of dst are not written.
inline void scatter_add_even(float* dst, const float* src, int64_t n) {
  const __m512i spread_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i spread_hi = _mm512_add_epi32(spread_lo, _mm512_set1_epi32(8));
  if (n <= 8) {  // one vector of dst
    const __mmask16 m = static_cast<__mmask16>((1u << (2 * n - 1)) - 1) & 0x5555;
    const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), src);
    _mm512_mask_storeu_ps(
        dst, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst), _mm512_permutexvar_ps(spread_lo, v)));
    return;
  }
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t m = std::min<int64_t>(16, n - i), span = 2 * m - 1;
    const __m512 v = _mm512_maskz_loadu_ps(first_lanes(m), src + i);
    const __mmask16 mlo = first_lanes(span) & 0x5555, mhi = first_lanes(span - 16) & 0x5555;
    float* d = dst + 2 * i;
    _mm512_mask_storeu_ps(
        d, mlo, _mm512_add_ps(_mm512_maskz_loadu_ps(mlo, d), _mm512_permutexvar_ps(spread_lo, v)));
    _mm512_mask_storeu_ps(
        d + 16, mhi,
        _mm512_add_ps(_mm512_maskz_loadu_ps(mhi, d + 16), _mm512_permutexvar_ps(spread_hi, v)));
  }
}
#elif defined(__AVX2__)
inline __m256i first_lanes(int64_t n) {
  const int lanes = static_cast<int>(std::clamp<int64_t>(n, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline void gather_even(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const int64_t m = std::min<int64_t>(8, n - i), span = 2 * m - 1;
    const __m256 lo = _mm256_maskload_ps(src + 2 * i, first_lanes(span));          // s0 .. s7
    const __m256 hi = _mm256_maskload_ps(src + 2 * i + 8, first_lanes(span - 8));  // s8 .. s15
    // (s0 s2 s8 s10 | s4 s6 s12 s14), then its 64-bit quarters in order 0, 2, 1, 3.
    const __m256 e = _mm256_shuffle_ps(lo, hi, 0x88);
    const __m256 v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8));
    _mm256_maskstore_ps(dst + i, first_lanes(m), v);
  }
}

inline void scatter_add_even(float* dst, const float* src, int64_t n) {
  const __m256i spread_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  const __m256i spread_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  const __m256i even = _mm256_setr_epi32(-1, 0, -1, 0, -1, 0, -1, 0);
  for (int64_t i = 0; i < n; i += 8) {
    const int64_t m = std::min<int64_t>(8, n - i), span = 2 * m - 1;
    const __m256 v = _mm256_maskload_ps(src + i, first_lanes(m));
    const __m256i mlo = _mm256_and_si256(first_lanes(span), even);
    const __m256i mhi = _mm256_and_si256(first_lanes(span - 8), even);
    float* d = dst + 2 * i;
    _mm256_maskstore_ps(
        d, mlo, _mm256_add_ps(_mm256_maskload_ps(d, mlo), _mm256_permutevar8x32_ps(v, spread_lo)));
    _mm256_maskstore_ps(
        d + 8, mhi,
        _mm256_add_ps(_mm256_maskload_ps(d + 8, mhi), _mm256_permutevar8x32_ps(v, spread_hi)));
  }
}
#endif

// One strided run between an input row x and a col row: col[i] = x[i stride] (im2col) or,
// with kAdd, x[i stride] += col[i] (col2im), i < n.
// Unit stride: a copy is a memcpy; an add (f32, AVX-512) takes 16 floats a step, the last
// step masked. A run is one output row, often 7 to 30 floats, where a vectorized loop's
// scalar remainder cost more than its vectors: conv_seed's col2im went from 13% to 6.5% of
// its fused backward, which took 5% less time on one thread.
template <bool kAdd, typename XT, typename CT>
void strided_run(XT* x, CT* col, int64_t n, int64_t stride) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<std::remove_const_t<XT>, float>) {
    if constexpr (kAdd) {
      if (stride == 1) {
        for (int64_t i = 0; i < n; i += 16) {
          const __mmask16 m = first_lanes(n - i);
          _mm512_mask_storeu_ps(
              x + i, m,
              _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, col + i)));
        }
        return;
      }
    }
  }
#endif
  if (stride == 1) {
    if constexpr (kAdd) {
      for (int64_t i = 0; i < n; ++i) x[i] += col[i];
    } else {
      std::memcpy(col, x, static_cast<size_t>(n) * sizeof(CT));
    }
    return;
  }
#if defined(__AVX512F__) || defined(__AVX2__)
  if constexpr (std::is_same_v<std::remove_const_t<XT>, float>) {
    if (stride == 2 && n >= kVectorRun) {
      if constexpr (kAdd) {
        scatter_add_even(x, col, n);
      } else {
        gather_even(col, x, n);
      }
      return;
    }
  }
#endif
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (kAdd) {
      x[i * stride] += col[i];
    } else {
      col[i] = x[i * stride];
    }
  }
}

}  // namespace ember::cpu::strided_runs
