// Packed f32 GEMM (gemm_packed.h): c (M, N) (+)= a (M, K) @ b (K, N), one thread.
//
// Blocking (Goto/BLIS, with the roles of the caches chosen for a kernel that loads B and
// broadcasts A):
//   for each depth block k0 (K cut into equal blocks of kc <= kKC, or one when K <= kKCOne):
//     for each column block n0 (nc <= kNC and kc nc <= kBlockFloats, N cut into equal
//     blocks of whole kNR panels):
//       pack b[k0:k0+kc, n0:n0+nc] into kNR-wide panels (kc x kNR each, zero-padded
//       past N), resident in L2 while every row panel reads it
//       for each row panel m0 (kMR rows):
//         pack a[m0:m0+kMR, k0:k0+kc] into (kc x kMR) (stays in L1)
//         for each column panel: the micro-kernel, c[m0.., n0+j..] (+)= apanel @ bpanel
// The micro-kernel keeps a kMR x kNR tile of c in registers over the whole depth: per k,
// kNV vector loads of the B panel and kMR broadcasts of A (memory operands of the FMA),
// kMR * kNV FMAs. c is read (when adding) and written once per depth block.
//   AVX-512: kMR x kNR = 14 x 32 (28 zmm accumulators of 32). Zen 4 splits a zmm FMA
//            over its two 256-bit pipes, so ymm FMAs could give the same FLOPs; ymm
//            kernels of this code (14 x 16 and 6 x 32 on the 32 ymm registers) measured
//            15-20% slower on the development machine (docs/performance.md).
//   AVX2:    6 x 16 (12 ymm accumulators of 16).
// Blocks (measured, docs/performance.md):
//   AVX-512: kKC x kNC = 256 x 512 (a 512 KiB B block in Zen 4's 1 MiB L2; A panel 14 KiB).
//   AVX2:    kKC = 256, but a depth up to kKCOne = 512 in one block; the B block at most
//            64 Ki floats (256 KiB, half of Zen 3's 512 KiB L2: 512 x 128, 256 x 256,
//            128 x 512) and kNC = 512. Against 256 x 512 on the Zen 3: 5-10% less time on
//            the GPT step's K = 384 and 512 products (c read and written once, not twice),
//            the same elsewhere; 512-deep blocks for every K were 3-7% slower than 256 on
//            its K = 4096 weight gradients (an A panel of 12 KiB beside a 32 KiB B panel no
//            longer stays in the 32 KiB L1) (issue 19, pack).
// Edges: rows past M are zero in the packed A panel and the micro-kernel is instantiated
// for every row count 1..kMR (no work on absent rows); columns past N are zero in the B
// panel and a partial tile is stored through a small buffer.
// Packing: a row-major A panel is a transpose, a column-major one a copy per k; a
// row-major B panel a copy per k, a column-major one (x @ W^T, W row-major) a transpose.
// The transposes run in registers, 16 x 16 blocks with AVX-512, 8 x 8 with AVX2 (on the
// Zen 3 the scalar gather they replaced cost a third of the multiply, issue 19, pack);
// other strides, and depths past the last whole block, take a scalar gather.
// Threads (gemm_packed_f32_rows_parallel): the team packs all of B (every depth and
// column block) into one shared buffer, meets at one barrier, and each thread runs the
// loops above over its own row panels.
// Cost: 2 M N K FLOPs; bytes: A read ceil(N / kNC) times, B once, c written (and read)
// ceil(K / kKC) times, plus the packed copies, which live in L1/L2.
// The narrow GEMM (gemm_narrow_f32, read in place, no packing) is in gemm_narrow.cpp;
// both build on gemm_simd.h's register tiles.
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/gemm_simd.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

namespace ember::cpu {

#if EMBER_GEMM_PACKED
namespace {

using namespace gemm_simd;  // NOLINT: the micro-kernels' vector helpers

#if defined(__AVX512F__)
constexpr int kMR = 14, kNV = 2;
#else
constexpr int kMR = 6, kNV = 2;
#endif
constexpr int kNR = kNV * kLanes;
#ifndef EMBER_GEMM_KC  // (a scratch program may try other blocks)
#if defined(__AVX512F__)
#define EMBER_GEMM_KC 256
#define EMBER_GEMM_NC 512
#else
#define EMBER_GEMM_KC 256
#define EMBER_GEMM_NC 512
#define EMBER_GEMM_BLOCK (int64_t{1} << 16)
#define EMBER_GEMM_KC_ONE 512
#endif
#endif
#ifndef EMBER_GEMM_BLOCK
#define EMBER_GEMM_BLOCK (int64_t{EMBER_GEMM_KC} * EMBER_GEMM_NC)
#endif
#ifndef EMBER_GEMM_KC_ONE
#define EMBER_GEMM_KC_ONE EMBER_GEMM_KC
#endif
constexpr int64_t kKC = EMBER_GEMM_KC;         // depth of a block: an A panel is kKC x kMR floats
constexpr int64_t kKCOne = EMBER_GEMM_KC_ONE;  // a depth up to this is not cut
constexpr int64_t kNC = EMBER_GEMM_NC;         // columns of a packed B block, at most
constexpr int64_t kBlockFloats = EMBER_GEMM_BLOCK;  // floats of a packed B block, at most

// c[0:R, 0:cols] (+)= pa (kc, kMR) @ pb (kc, kNR): R rows of the A panel, cols <= kNR
// columns of the B panel (the rest is padding).
template <int R>
void micro_kernel(int64_t kc, const float* __restrict pa, const float* __restrict pb,
                  float* __restrict c, int64_t ldc, int cols, bool add) {
  Vec acc[R][kNV];
  tile_zero(acc);
  for (int64_t k = 0; k < kc; ++k, pa += kMR, pb += kNR) {
    Vec b[kNV];
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) b[v] = vload(pb + v * kLanes);
    tile_step(acc, b, pa, 1);
  }
  if (cols == kNR) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) {
        float* p = c + i * ldc + v * kLanes;
        vstoreu(p, add ? vadd(acc[i][v], vloadu(p)) : acc[i][v]);
      }
    }
    return;
  }
  // A partial tile: the first `cols` lanes of each row, under masks.
#pragma GCC unroll 4
  for (int v = 0; v < kNV; ++v) {
    const Mask m = lane_mask(cols - v * kLanes);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      float* p = c + i * ldc + v * kLanes;
      vstore_masked(p, m, add ? vadd(acc[i][v], vload_masked(p, m)) : acc[i][v]);
    }
  }
}

using MicroKernel = void (*)(int64_t, const float*, const float*, float*, int64_t, int, bool);

template <int... I>
constexpr std::array<MicroKernel, kMR + 1> kernel_table(std::integer_sequence<int, I...>) {
  return {nullptr, &micro_kernel<I + 1>...};
}
// kKernels[R]: the micro-kernel for an A panel of R rows.
constexpr std::array<MicroKernel, kMR + 1> kKernels =
    kernel_table(std::make_integer_sequence<int, kMR>{});

#if defined(__AVX512F__)
// The shuffles are the zero-masked forms with every lane set: the unmasked intrinsics of
// GCC 12 start from an "undefined" register that -Wuninitialized reports.
constexpr __mmask16 kAll16 = 0xffff;
constexpr __mmask8 kAll8 = 0xff;

// Transposes the 16 x 16 block r in registers: r[j] lane i = old r[i] lane j.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_ps(kAll16, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(kAll16, r[i], r[i + 1]);
  }
  // u[4q + j] holds, in 128-bit lane L, column 4L + j of rows 4q .. 4q + 3.
  for (int q = 0; q < 4; ++q) {
    const __m512d t0 = _mm512_castps_pd(t[4 * q]), t1 = _mm512_castps_pd(t[4 * q + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * q + 2]), t3 = _mm512_castps_pd(t[4 * q + 3]);
    u[4 * q] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, t0, t2));
    u[4 * q + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, t0, t2));
    u[4 * q + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, t1, t3));
    u[4 * q + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, t1, t3));
  }
  // t[j] (j < 4): columns j and 8 + j of rows 0..7; t[4 + j]: columns 4 + j and 12 + j;
  // t[8 + ...] the same for rows 8..15.
  for (int h = 0; h < 2; ++h) {
    for (int j = 0; j < 4; ++j) {
      t[8 * h + j] = _mm512_maskz_shuffle_f32x4(kAll16, u[8 * h + j], u[8 * h + 4 + j], 0x88);
      t[8 * h + 4 + j] = _mm512_maskz_shuffle_f32x4(kAll16, u[8 * h + j], u[8 * h + 4 + j], 0xdd);
    }
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_maskz_shuffle_f32x4(kAll16, t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_maskz_shuffle_f32x4(kAll16, t[j], t[8 + j], 0xdd);
    r[4 + j] = _mm512_maskz_shuffle_f32x4(kAll16, t[4 + j], t[12 + j], 0x88);
    r[12 + j] = _mm512_maskz_shuffle_f32x4(kAll16, t[4 + j], t[12 + j], 0xdd);
  }
}

// Loads 16 consecutive floats of `rows` (<= 16) source lines starting at src (ld floats
// apart; missing lines are zero) and stores them transposed: dst + j * dst_ld gets
// element j of every line, under `mask`.
inline void transpose_block(const float* src, int64_t ld, int rows, float* dst, int64_t dst_ld,
                            __mmask16 mask) {
  __m512 r[16];
  for (int i = 0; i < 16; ++i)
    r[i] = i < rows ? _mm512_loadu_ps(src + i * ld) : _mm512_setzero_ps();
  transpose16(r);
  for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(dst + j * dst_ld, mask, r[j]);
}

// The A panel's depths k..k+15 from R row-major rows at src (ld apart): dst + j kMR
// gets row i's element j in lane i (rows R..kMR - 1 zero).
inline void transpose_a(const float* src, int64_t ld, int R, float* dst) {
  static_assert(kMR <= 16);
  transpose_block(src, ld, R, dst, kMR, (1u << kMR) - 1);
}

// 16 columns of a B panel at depths k..k+15 from `rows` column-major columns at src (ld
// apart; rows <= 0: all zero): dst + j kNR gets column i's element j in lane i.
inline void transpose_b(const float* src, int64_t ld, int rows, float* dst) {
  if (rows > 0) {
    transpose_block(src, ld, rows, dst, kNR, 0xffff);
  } else {
    for (int j = 0; j < 16; ++j) _mm512_storeu_ps(dst + j * kNR, _mm512_setzero_ps());
  }
}
#else
// AVX2. The 8 x 8 transpose: r[j] lane i = element j of source line i, for `rows` (<= 8)
// lines of 8 floats at src, ld floats apart (missing lines are zero). Rows i and i + 4 are
// loaded as the two 128-bit halves of one register (the loads feed the inserts, so no
// cross-lane shuffle is left), then each half is a 4 x 4 transpose (unpack, shuffle).
inline void transpose8(const float* src, int64_t ld, int rows, __m256 r[8]) {
  const auto quad = [&](int i, int j) {
    return i < rows ? _mm_loadu_ps(src + i * ld + j) : _mm_setzero_ps();
  };
  __m256 x[8];
  for (int i = 0; i < 4; ++i) {
    x[i] = _mm256_set_m128(quad(i + 4, 0), quad(i, 0));      // elements 0..3
    x[4 + i] = _mm256_set_m128(quad(i + 4, 4), quad(i, 4));  // elements 4..7
  }
  for (int g = 0; g < 8; g += 4) {
    const __m256 t0 = _mm256_unpacklo_ps(x[g], x[g + 1]), t1 = _mm256_unpackhi_ps(x[g], x[g + 1]);
    const __m256 t2 = _mm256_unpacklo_ps(x[g + 2], x[g + 3]),
                 t3 = _mm256_unpackhi_ps(x[g + 2], x[g + 3]);
    r[g] = _mm256_shuffle_ps(t0, t2, 0x44);
    r[g + 1] = _mm256_shuffle_ps(t0, t2, 0xee);
    r[g + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
    r[g + 3] = _mm256_shuffle_ps(t1, t3, 0xee);
  }
}

// The first 6 = kMR lanes of v at d (a 16- and an 8-byte store).
inline void store_mr(float* d, __m256 v) {
  static_assert(kMR == 6);
  _mm_storeu_ps(d, _mm256_castps256_ps128(v));
  _mm_store_sd(reinterpret_cast<double*>(d + 4), _mm_castps_pd(_mm256_extractf128_ps(v, 1)));
}

// The A panel's depths k..k+7 from R row-major rows at src (ld apart): dst + j kMR gets
// row i's element j in lane i (rows R..kMR - 1 zero). The 8 k of a block are 48
// consecutive floats, so each full-width store's two extra lanes are overwritten by the
// next one; the last stores kMR lanes only.
inline void transpose_a(const float* src, int64_t ld, int R, float* dst) {
  __m256 r[8];
  transpose8(src, ld, R, r);
  for (int j = 0; j < 7; ++j) _mm256_storeu_ps(dst + j * kMR, r[j]);
  store_mr(dst + 7 * kMR, r[7]);
}

// One 8-column half of a B panel at depths k..k+7 from `rows` column-major columns at src
// (ld apart; rows <= 0: all zero): dst + j kNR gets column i's element j in lane i.
inline void transpose_b(const float* src, int64_t ld, int rows, float* dst) {
  __m256 r[8];
  if (rows > 0) {
    transpose8(src, ld, rows, r);
  } else {
    for (__m256& v : r) v = _mm256_setzero_ps();
  }
  for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + j * kNR, r[j]);
}
#endif

// dst (kc, kMR) = a[m0:m0+R, k0:k0+kc] laid out k-major; rows R.. of each k are zero.
void pack_a(const GemmOperand& a, int64_t m0, int R, int64_t k0, int64_t kc, float* dst) {
  const float* src = a.p + m0 * a.rs + k0 * a.cs;
  if (a.rs == 1) {  // column-major: each k is R consecutive floats
#if defined(__AVX512F__)
    const __mmask16 rows = static_cast<__mmask16>((1u << R) - 1), all = (1u << kMR) - 1;
    for (int64_t k = 0; k < kc; ++k)
      _mm512_mask_storeu_ps(dst + k * kMR, all, _mm512_maskz_loadu_ps(rows, src + k * a.cs));
#else
    // A masked load (zero past R) stored whole: the next k overwrites the two extra lanes.
    const Mask rows = lane_mask(R);
    for (int64_t k = 0; k + 1 < kc; ++k)
      _mm256_storeu_ps(dst + k * kMR, vload_masked(src + k * a.cs, rows));
    store_mr(dst + (kc - 1) * kMR, vload_masked(src + (kc - 1) * a.cs, rows));
#endif
    return;
  }
  int64_t k = 0;
  if (a.cs == 1) {  // row-major: transpose kLanes x kLanes blocks
    for (; k + kLanes <= kc; k += kLanes) transpose_a(src + k, a.rs, R, dst + k * kMR);
  }
  for (; k < kc; ++k) {
    float* d = dst + k * kMR;
    for (int i = 0; i < R; ++i) d[i] = src[i * a.rs + k * a.cs];
    for (int i = R; i < kMR; ++i) d[i] = 0.0f;
  }
}

// dst = b[k0:k0+kc, n0:n0+nc] as ceil(nc / kNR) panels of (kc, kNR), panel p at
// dst + p kc kNR; columns past nc are zero.
void pack_b(const GemmOperand& b, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += kNR, dst += kc * kNR) {
    const int w = static_cast<int>(std::min<int64_t>(kNR, nc - j0));
    const float* src = b.p + k0 * b.rs + (n0 + j0) * b.cs;
    if (b.cs == 1) {  // row-major: each k is w consecutive floats
      for (int64_t k = 0; k < kc; ++k) {
        const float* s = src + k * b.rs;
        float* d = dst + k * kNR;
        if (w == kNR) {
          for (int v = 0; v < kNV; ++v) vstoreu(d + v * kLanes, vloadu(s + v * kLanes));
        } else {
          for (int j = 0; j < w; ++j) d[j] = s[j];
          for (int j = w; j < kNR; ++j) d[j] = 0.0f;
        }
      }
      continue;
    }
    int64_t k = 0;
    if (b.rs == 1) {  // column-major: transpose kLanes columns x kLanes k at a time
      for (; k + kLanes <= kc; k += kLanes) {
        for (int h = 0; h < kNV; ++h)
          transpose_b(src + k + h * kLanes * b.cs, b.cs, std::min(w - h * kLanes, kLanes),
                      dst + k * kNR + h * kLanes);
      }
    }
    for (; k < kc; ++k) {
      float* d = dst + k * kNR;
      for (int j = 0; j < w; ++j) d[j] = src[k * b.rs + j * b.cs];
      for (int j = w; j < kNR; ++j) d[j] = 0.0f;
    }
  }
}

// A growing 64-byte aligned buffer of one thread.
class Scratch {
 public:
  float* get(int64_t n) {
    if (n > cap_) {
      const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
      p_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!p_) throw std::bad_alloc();
      cap_ = n;
    }
    return p_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> p_;
  int64_t cap_ = 0;
};

// How a product is cut into depth and column blocks: K into equal blocks of at most kKC
// (one block when K <= kKCOne), N into equal blocks of whole kNR panels, at most kNC and
// kBlockFloats / kcb wide.
struct Blocks {
  int64_t kcb, ncb;
  Blocks(int64_t N, int64_t K) : kcb(K <= kKCOne ? K : ceil_div(K, ceil_div(K, kKC))) {
    const int64_t widest = std::max<int64_t>(kNR, std::min(kNC, kBlockFloats / kcb) / kNR * kNR);
    ncb = ceil_div(ceil_div(N, ceil_div(N, widest)), kNR) * kNR;
  }
};

// Rows [m0, m1) of c (+)= a[:, k0:k0+kc] @ b[k0:k0+kc, n0:n0+nc], with that block of b
// packed at pb; pa is a (kc, kMR) buffer.
void multiply_block(float* c, int64_t ldc, const GemmOperand& a, const float* pb, float* pa,
                    int64_t k0, int64_t kc, int64_t n0, int64_t nc, int64_t m0, int64_t m1,
                    bool add) {
  for (int64_t m = m0; m < m1; m += kMR) {
    const int R = static_cast<int>(std::min<int64_t>(kMR, m1 - m));
    pack_a(a, m, R, k0, kc, pa);
    const MicroKernel kernel = kKernels[R];
    float* crow = c + m * ldc + n0;
    for (int64_t j = 0; j < nc; j += kNR)
      kernel(kc, pa, pb + j * kc, crow + j, ldc, static_cast<int>(std::min<int64_t>(kNR, nc - j)),
             add);
  }
}

// The products that share one packed B among threads: B is packed whole (K x N rounded
// to panels) before the rows are split, so at most this many floats.
constexpr int64_t kSharedMaxFloats = int64_t{4} << 20;  // 16 MiB

}  // namespace

bool gemm_packed_available() { return true; }

void gemm_packed_f32(float* c, int64_t ldc, GemmOperand a, GemmOperand b, int64_t M, int64_t N,
                     int64_t K, bool accumulate) {
  thread_local Scratch a_buf, b_buf;
  const Blocks bl(N, K);
  float* pb = b_buf.get(bl.kcb * bl.ncb);  // one block: (ncb / kNR) panels of (kcb, kNR)
  float* pa = a_buf.get(bl.kcb * kMR);
  for (int64_t k0 = 0; k0 < K; k0 += bl.kcb) {
    const int64_t kc = std::min(bl.kcb, K - k0);
    for (int64_t n0 = 0; n0 < N; n0 += bl.ncb) {
      const int64_t nc = std::min(bl.ncb, N - n0);
      pack_b(b, k0, kc, n0, nc, pb);
      multiply_block(c, ldc, a, pb, pa, k0, kc, n0, nc, 0, M, accumulate || k0 > 0);
    }
  }
}

bool gemm_packed_f32_rows_parallel(float* c, int64_t ldc, GemmOperand a, GemmOperand b, int64_t M,
                                   int64_t N, int64_t K, int threads) {
  const Blocks bl(N, K);
  const int64_t npad = ceil_div(N, kNR) * kNR, panels = npad / kNR;
  const int64_t row_panels = ceil_div(M, kMR);
  if (threads < 2 || K * npad > kSharedMaxFloats || row_panels < 2 * threads) return false;
  // All of b, packed: depth block k0 (depth kc) at k0 npad, its panel p at p kc kNR.
  thread_local Scratch shared_buf;
  float* pbs = shared_buf.get(K * npad);
  const int64_t kblocks = ceil_div(K, bl.kcb), tasks = kblocks * panels;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    for (int64_t i = t * tasks / nt; i < (t + 1) * tasks / nt; ++i) {
      const int64_t k0 = i / panels * bl.kcb, kc = std::min(bl.kcb, K - k0), p = i % panels;
      pack_b(b, k0, kc, p * kNR, std::min<int64_t>(kNR, N - p * kNR),
             pbs + k0 * npad + p * kc * kNR);
    }
    thread_local Scratch a_buf;
    float* pa = a_buf.get(bl.kcb * kMR);
    const int64_t m0 = std::min(M, t * row_panels / nt * kMR),
                  m1 = std::min(M, (t + 1) * row_panels / nt * kMR);
#pragma omp barrier
    for (int64_t k0 = 0; k0 < K; k0 += bl.kcb) {
      const int64_t kc = std::min(bl.kcb, K - k0);
      for (int64_t n0 = 0; n0 < N; n0 += bl.ncb)
        multiply_block(c, ldc, a, pbs + k0 * npad + n0 * kc, pa, k0, kc, n0,
                       std::min(bl.ncb, N - n0), m0, m1, k0 > 0);
    }
  }
  return true;
}

#else  // no micro-kernel for this target: matmul.cpp keeps Eigen

bool gemm_packed_available() { return false; }

void gemm_packed_f32(float*, int64_t, GemmOperand, GemmOperand, int64_t, int64_t, int64_t, bool) {
  std::abort();
}

bool gemm_packed_f32_rows_parallel(float*, int64_t, GemmOperand, GemmOperand, int64_t, int64_t,
                                   int64_t, int) {
  return false;
}

#endif

}  // namespace ember::cpu
