// Skinny f32 GEMMs (gemm_skinny.h): the products of a linear layer whose input is much
// wider than its batch and output (the seed step's 32 x 57600 @ 57600 x 128, issue 19).
// Eigen packs both operands into panels for every product; for these shapes the packing
// is a full extra pass over the large operand (29.5 MB in the seed step), and with the
// operands in memory the products are bound by memory traffic, not by the FMA units
// (in cache these kernels run at Eigen's rate or 10% above). So the kernels read the large
// operand once, unpacked, in the order it lies in memory.
//
//   dot    a row-major, b column-major (both contiguous along K), small out, long K:
//          out = x @ W^T, the forward of linear. Each out element is a dot product of two
//          K-contiguous rows; a register tile of kDotM x kDotN rows keeps kDotM * kDotN
//          vector accumulators over a chunk of K (kDotChunk, so the chunk's rows stay in
//          L2 while every tile reads them), then adds their lane sums into out. Threads
//          split K; each sums into its own partial, added in thread order at the end
//          (deterministic for a thread count).
//   bcast  b row-major, short K, wide N: g @ W and g^T @ x, linear's input and weight
//          gradients. A tile of kBcastM rows x kBcastV vectors of out lives in registers
//          over all of K: per k, kBcastV loads of b's row and kBcastM broadcasts of a.
//          The column tile of b (K x kBcastV vectors) is read from memory once and reused
//          from L1 by every row tile. Threads split N into column blocks. An output of
//          kStreamBytes or more (the 29.5 MB weight gradient) is written with streaming
//          stores: a plain store first reads each line it writes, which for an output
//          far larger than the caches is a third of the product's memory traffic.
// The vectors are GCC vector extensions of the widest width the build targets (16 f32
// lanes with AVX-512, 8 with AVX, 4 otherwise), so the code is the same on every target.
// Rows past M (or N for dot) in a tail tile are computed from a duplicate of the last row
// and not stored, so every tile runs the same unrolled loop.
#include "kernels/cpu/gemm_skinny.h"

#include "kernels/cpu/gemm_packed.h"

#include <omp.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

namespace ember::cpu {

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kBcastM = 4, kBcastV = 4;
#elif defined(__AVX__)
constexpr int kLanes = 8;
constexpr int kBcastM = 4, kBcastV = 2;
#else
constexpr int kLanes = 4;  // SSE, NEON: 16-byte vectors are what every target has
constexpr int kBcastM = 4, kBcastV = 2;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

constexpr int kDotM = 4, kDotN = 4;
constexpr int64_t kDotChunk = 1024;  // K elements per pass: 32 + 128 rows of 4 KiB in L2
// Which products take these kernels (the rest go to Eigen).
constexpr int64_t kDotMaxOut = 256;      // M and N of a dot product at most this
constexpr int64_t kDotMinRatio = 8;      // and K at least this times the larger of them
constexpr int64_t kBcastMaxDepth = 256;  // K of a bcast product at most this
constexpr int64_t kBcastMaxRows = 128;   // M at most this (more rows: Eigen's packing pays)
constexpr int64_t kBcastMinCols = 512;   // and N at least this and at least 4 M

// Outputs at least this large are written with streaming stores.
constexpr int64_t kStreamBytes = int64_t{8} << 20;

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
// A store that bypasses the caches (no read of the line first) for a 64-byte aligned p.
inline void store_stream(float* p, Vec v) {
#if defined(__AVX512F__)
  _mm512_stream_ps(p, reinterpret_cast<__m512>(v));
#elif defined(__AVX__)
  _mm256_stream_ps(p, reinterpret_cast<__m256>(v));
#else
  store(p, v);
#endif
}
// Orders the streaming stores before whatever the thread does next (the end of the
// parallel region hands out to other threads).
inline void stream_fence() {
#if defined(__AVX__)
  _mm_sfence();
#endif
}
inline float lane_sum(Vec v) {
  float s = 0;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}

// out[m, n] += a[m, k0:k1] . b[n, k0:k1] for the tile m0.., n0.. (rows of a and b are
// contiguous; rows past M or N are clamped and not stored).
void dot_tile(float* out, int64_t ldo, const float* a, int64_t lda, const float* b, int64_t ldb,
              int64_t m0, int64_t n0, int64_t M, int64_t N, int64_t k0, int64_t k1) {
  const float* ar[kDotM];
  const float* br[kDotN];
  for (int i = 0; i < kDotM; ++i) ar[i] = a + std::min(m0 + i, M - 1) * lda;
  for (int j = 0; j < kDotN; ++j) br[j] = b + std::min(n0 + j, N - 1) * ldb;
  Vec acc[kDotM][kDotN] = {};
  int64_t k = k0;
  for (; k + kLanes <= k1; k += kLanes) {
    Vec av[kDotM], bv[kDotN];
    for (int i = 0; i < kDotM; ++i) av[i] = load(ar[i] + k);
    for (int j = 0; j < kDotN; ++j) bv[j] = load(br[j] + k);
    for (int i = 0; i < kDotM; ++i)
      for (int j = 0; j < kDotN; ++j) acc[i][j] += av[i] * bv[j];
  }
  for (int i = 0; i < kDotM && m0 + i < M; ++i) {
    for (int j = 0; j < kDotN && n0 + j < N; ++j) {
      float s = lane_sum(acc[i][j]);
      for (int64_t kk = k; kk < k1; ++kk) s += ar[i][kk] * br[j][kk];
      out[(m0 + i) * ldo + n0 + j] += s;
    }
  }
}

// out (M, N) = a[:, k0:k1] @ b[:, k0:k1]^T, one thread.
void dot_block(float* out, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t M,
               int64_t N, int64_t k0, int64_t k1) {
  std::fill(out, out + M * N, 0.0f);
  for (int64_t c0 = k0; c0 < k1; c0 += kDotChunk) {
    const int64_t c1 = std::min(k1, c0 + kDotChunk);
    for (int64_t n0 = 0; n0 < N; n0 += kDotN)
      for (int64_t m0 = 0; m0 < M; m0 += kDotM)
        dot_tile(out, N, a, lda, b, ldb, m0, n0, M, N, c0, c1);
  }
}

void dot_product(float* out, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t M,
                 int64_t N, int64_t K, int threads) {
  if (threads <= 1) return dot_block(out, a, lda, b, ldb, M, N, 0, K);
  // Slices of K in whole vectors; thread 0 sums into out, the others into partials.
  const int64_t slice = (K / threads + kLanes - 1) / kLanes * kLanes, MN = M * N;
  std::unique_ptr<float[]> partial(new float[static_cast<size_t>((threads - 1) * MN)]);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t k0 = std::min<int64_t>(t * slice, K),
                  k1 = t == nt - 1 ? K : std::min(K, k0 + slice);
    float* dst = t == 0 ? out : partial.get() + (t - 1) * MN;
    dot_block(dst, a, lda, b, ldb, M, N, k0, k1);
#pragma omp barrier
    const int64_t chunk = (MN + nt - 1) / nt, e0 = std::min<int64_t>(t * chunk, MN),
                  e1 = std::min(MN, e0 + chunk);
    for (int u = 1; u < nt; ++u) {
      const float* src = partial.get() + (u - 1) * MN;
      for (int64_t e = e0; e < e1; ++e) out[e] += src[e];
    }
  }
}

// out[m0.., n0:n0 + kBcastV kLanes] = a[m0.., :] @ b[:, n0..] over all K.
template <bool Stream>
void bcast_tile(float* out, int64_t ldo, const float* a, int64_t a_sm, int64_t a_sk, const float* b,
                int64_t ldb, int64_t m0, int64_t n0, int64_t M, int64_t K) {
  const float* ar[kBcastM];
  for (int i = 0; i < kBcastM; ++i) ar[i] = a + std::min(m0 + i, M - 1) * a_sm;
  Vec acc[kBcastM][kBcastV] = {};
  const float* bk = b + n0;
  for (int64_t k = 0; k < K; ++k, bk += ldb) {
    Vec bv[kBcastV];
    for (int v = 0; v < kBcastV; ++v) bv[v] = load(bk + v * kLanes);
    for (int i = 0; i < kBcastM; ++i) {
      const float s = ar[i][k * a_sk];
      for (int v = 0; v < kBcastV; ++v) acc[i][v] += s * bv[v];
    }
  }
  for (int i = 0; i < kBcastM && m0 + i < M; ++i)
    for (int v = 0; v < kBcastV; ++v) {
      if constexpr (Stream) {
        store_stream(out + (m0 + i) * ldo + n0 + v * kLanes, acc[i][v]);
      } else {
        store(out + (m0 + i) * ldo + n0 + v * kLanes, acc[i][v]);
      }
    }
}

// Columns n0:n1 of out (M, N) = a @ b, one thread; a last partial tile runs in scalars.
void bcast_block(float* out, const float* a, int64_t a_sm, int64_t a_sk, const float* b,
                 int64_t ldb, int64_t M, int64_t N, int64_t K, int64_t n0, int64_t n1) {
  constexpr int64_t tile = kBcastV * kLanes;
  int64_t n = n0;
  const bool stream = M * N * int64_t{sizeof(float)} >= kStreamBytes &&
                      reinterpret_cast<uintptr_t>(out) % 64 == 0 && N % kLanes == 0;
  for (; n + tile <= n1; n += tile) {
    for (int64_t m0 = 0; m0 < M; m0 += kBcastM) {
      if (stream) {
        bcast_tile<true>(out, N, a, a_sm, a_sk, b, ldb, m0, n, M, K);
      } else {
        bcast_tile<false>(out, N, a, a_sm, a_sk, b, ldb, m0, n, M, K);
      }
    }
  }
  if (stream) stream_fence();
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t c = n; c < n1; ++c) {
      float s = 0;
      for (int64_t k = 0; k < K; ++k) s += a[m * a_sm + k * a_sk] * b[k * ldb + c];
      out[m * N + c] = s;
    }
  }
}

void bcast_product(float* out, const float* a, int64_t a_sm, int64_t a_sk, const float* b,
                   int64_t ldb, int64_t M, int64_t N, int64_t K, int threads) {
  if (threads <= 1) return bcast_block(out, a, a_sm, a_sk, b, ldb, M, N, K, 0, N);
  constexpr int64_t tile = kBcastV * kLanes;
  const int64_t block = (N / threads + tile - 1) / tile * tile;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int t = 0; t < threads; ++t) {
    const int64_t n0 = std::min<int64_t>(t * block, N);
    const int64_t n1 = t == threads - 1 ? N : std::min(N, n0 + block);
    if (n1 > n0) bcast_block(out, a, a_sm, a_sk, b, ldb, M, N, K, n0, n1);
  }
}

}  // namespace

bool skinny_gemm_f32(float* out, const float* a, int64_t a_sm, int64_t a_sk, const float* b,
                     int64_t b_sk, int64_t b_sn, int64_t M, int64_t N, int64_t K, int threads) {
  if (M < 1 || N < 1 || K < 1) return false;
#if !defined(__AVX512F__)
  // With AVX2 (16 ymm registers) these tiles are load-bound (the 4 x 4 dot tile reloads an
  // operand for every FMA) and latency-bound on b's strided first pass; the packed GEMM
  // with matmul.cpp's K- and N-splits measured faster on a Zen 3 for all three of the seed
  // step's products (2 threads: x @ W^T 8.7 vs 9.1 ms, g @ W 10.0 vs 10.6, g^T @ x 6.1 vs
  // 15.6; docs/performance.md "(issue 19, skinny on AVX2)"). Where there is no packed GEMM
  // (no AVX2 and FMA) these kernels still beat Eigen's.
  if (gemm_packed_available()) return false;
#endif
  if (a_sk == 1 && b_sk == 1 && M <= kDotMaxOut && N <= kDotMaxOut &&
      K >= kDotMinRatio * std::max(M, N)) {
    dot_product(out, a, a_sm, b, b_sn, M, N, K, threads);
    return true;
  }
  if (b_sn == 1 && K <= kBcastMaxDepth && M <= kBcastMaxRows && N >= kBcastMinCols && N >= 4 * M) {
    bcast_product(out, a, a_sm, a_sk, b, b_sk, M, N, K, threads);
    return true;
  }
  return false;
}

}  // namespace ember::cpu
