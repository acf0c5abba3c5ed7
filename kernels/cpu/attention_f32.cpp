// The f32 fast path of the cpu fused attention (issue 19). Same math and blocking as
// attention.cpp (read its header), with every product run by one register-blocked tile:
//   C (M, N) (+)= A (M, K) B (K, N),  B row-major with N a multiple of 8,
// A read one element at a time (broadcast) through a row stride and a depth stride, so
// P^T and dS^T are read in place, never transposed. A tile keeps 6 rows x 2 vectors of C
// in 12 registers (8 lanes with AVX2, 16 where the build has AVX-512: Eigen's kernels use
// AVX-512 there, so 8 lanes would lose to them); per depth step it loads two vectors of B
// and broadcasts 6 elements of A.
// The five products of a (query block, key block) pair, with K^T and V^T packed per key
// block (the only copies; the keys are padded with zero columns to a multiple of 8):
//   S = Q K^T (B = K^T),  O += P V (B = V),  dV += P^T dO (B = dO),  dP = dO V^T (B = V^T),
//   dQ += dS K (B = K),  dK += dS^T Q (B = Q).
// Causal: a tile skips the columns of S and dP above the diagonal and the depth where its A
// is zero above it (P and dS are 0 there), so a causal call does about half the FLOPs.
// Scratch is per thread (thread_local, grown once to the largest block seen).
#include "kernels/cpu/attention_f32.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/fast_math.h"

namespace ember::cpu::attn_f32 {

#if defined(__AVX2__) && defined(__FMA__)

namespace {

constexpr int64_t kBlockK = 256;  // keys per block (attention.cpp's)
constexpr int64_t kBlockQ = 64;   // query rows per backward block

int64_t round8(int64_t n) { return (n + 7) & ~int64_t{7}; }

// Which part of a tile's work is nonzero under the causal mask. `diag` = i0 - j0 (query
// block start minus key block start): query row r sees key column c iff c <= r + diag.
enum class Skip {
  none,
  cols,        // rows are queries, columns keys: columns c > r + diag are not computed
  depth,       // rows are queries, depth keys: depth k > r + diag is zero in A
  depth_from,  // rows are keys, depth queries: depth k < r - diag is zero in A
};

struct Operand {
  const float* p;
  int64_t rs, ks;  // strides between rows and between depth steps
};

// The vector types of a tile: 8 lanes (AVX2) and, where the build has it, 16 (AVX-512).
struct V8 {
  using T = __m256;
  static constexpr int kLanes = 8;
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T zero() { return _mm256_setzero_ps(); }
  static T bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
};
#if defined(__AVX512F__)
struct V16 {
  using T = __m512;
  static constexpr int kLanes = 16;
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T zero() { return _mm512_setzero_ps(); }
  static T bcast(const float* p) { return _mm512_set1_ps(*p); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
};
using VWide = V16;
constexpr int kRows = 8;  // rows of C per tile: 16 of the 32 zmm registers accumulate
#else
using VWide = V8;
constexpr int kRows = 6;  // 12 of the 16 ymm registers accumulate
#endif

template <typename V, int R, int NV>
void tile(float* c, int64_t ldc, Operand a, const float* b, int64_t ldb, int64_t k0, int64_t k1,
          bool acc) {
  typename V::T s[R][NV];
  constexpr int W = V::kLanes;
  _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r)
      _Pragma("GCC unroll 2") for (int v = 0; v < NV; ++v) s[r][v] =
          acc ? V::load(c + r * ldc + W * v) : V::zero();
  for (int64_t k = k0; k < k1; ++k) {
    typename V::T bv[NV];
    _Pragma("GCC unroll 2") for (int v = 0; v < NV; ++v) bv[v] = V::load(b + k * ldb + W * v);
    const float* ak = a.p + k * a.ks;
    _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {
      const typename V::T ar = V::bcast(ak + r * a.rs);
      _Pragma("GCC unroll 2") for (int v = 0; v < NV; ++v) s[r][v] = V::fma(ar, bv[v], s[r][v]);
    }
  }
  _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r)
      _Pragma("GCC unroll 2") for (int v = 0; v < NV; ++v) V::store(c + r * ldc + W * v, s[r][v]);
}

template <typename V, int NV>
void tile_rows(int64_t rows, float* c, int64_t ldc, Operand a, const float* b, int64_t ldb,
               int64_t k0, int64_t k1, bool acc) {
  switch (rows) {
#if defined(__AVX512F__)
    case 8: return tile<V, 8, NV>(c, ldc, a, b, ldb, k0, k1, acc);
    case 7: return tile<V, 7, NV>(c, ldc, a, b, ldb, k0, k1, acc);
#endif
    case 6: return tile<V, 6, NV>(c, ldc, a, b, ldb, k0, k1, acc);
    case 5: return tile<V, 5, NV>(c, ldc, a, b, ldb, k0, k1, acc);
    case 4: return tile<V, 4, NV>(c, ldc, a, b, ldb, k0, k1, acc);
    case 3: return tile<V, 3, NV>(c, ldc, a, b, ldb, k0, k1, acc);
    case 2: return tile<V, 2, NV>(c, ldc, a, b, ldb, k0, k1, acc);
    default: return tile<V, 1, NV>(c, ldc, a, b, ldb, k0, k1, acc);
  }
}

// C (M, N) (+)= A (M, K) B (K, N); N % 8 == 0. Column panels outermost, so a B panel
// (K x 2 vectors) stays in L1 while the row tiles pass over it.
void gemm(float* c, int64_t ldc, Operand a, const float* b, int64_t ldb, int64_t M, int64_t N,
          int64_t K, bool acc, Skip skip = Skip::none, int64_t diag = 0) {
  constexpr int64_t kWide = 2 * VWide::kLanes;
  for (int64_t n0 = 0; n0 < N;) {
    // Panel width: two wide vectors, then one, then (AVX-512 builds) one of 8 lanes.
    const int64_t left = N - n0;
    const int64_t width = left >= kWide ? kWide : (left >= VWide::kLanes ? VWide::kLanes : 8);
    for (int64_t r0 = 0; r0 < M; r0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, M - r0);
      int64_t k0 = 0, k1 = K;
      if (skip == Skip::cols && n0 > r0 + rows - 1 + diag) continue;
      if (skip == Skip::depth) k1 = std::clamp<int64_t>(r0 + rows + diag, 0, K);
      if (skip == Skip::depth_from) k0 = std::clamp<int64_t>(r0 - diag, 0, K);
      if (k0 >= k1) {
        if (!acc)
          for (int64_t r = 0; r < rows; ++r) std::fill_n(c + (r0 + r) * ldc + n0, width, 0.f);
        continue;
      }
      const Operand ar{a.p + r0 * a.rs, a.rs, a.ks};
      float* cr = c + r0 * ldc + n0;
      if (width == kWide) {
        tile_rows<VWide, 2>(rows, cr, ldc, ar, b + n0, ldb, k0, k1, acc);
      } else if (width == VWide::kLanes) {
        tile_rows<VWide, 1>(rows, cr, ldc, ar, b + n0, ldb, k0, k1, acc);
      } else {
        tile_rows<V8, 1>(rows, cr, ldc, ar, b + n0, ldb, k0, k1, acc);
      }
    }
    n0 += width;
  }
}

// dst (cols, ldd) = src rows [0, n) transposed, columns n .. ldd zero: src is (n, cols),
// cols % 8 == 0. 8 x 8 blocks transposed in registers (a strided scalar gather read one
// element per cache line and took a fifth of the forward).
void pack_t(float* dst, int64_t ldd, const float* src, int64_t n, int64_t cols) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int64_t d = 0; d < cols; d += 8) {
      __m256 r[8], t[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (j + i) * cols + d);
      for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
      }
      for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
      }
      for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + (d + i) * ldd + j, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (d + i + 4) * ldd + j, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
      }
    }
  }
  for (int64_t d = 0; d < cols; ++d) {
    float* row = dst + d * ldd;
    for (int64_t jj = j; jj < n; ++jj) row[jj] = src[jj * cols + d];
    std::fill(row + n, row + ldd, 0.f);
  }
}

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

float hsum(__m256 v) {
  __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_add_ps(m, _mm_movehl_ps(m, m));
  m = _mm_add_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// row[0, n) *= scale; returns the max. A NaN score may not show in the max, but exp turns
// it into NaN in the row's sum, so the row's output and lse are NaN all the same (a row
// whose other scores are all -inf is caught by the caller).
float scale_max(float* row, int64_t n, float scale) {
  const __m256 sv = _mm256_set1_ps(scale);
  __m256 mv = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(row + c), sv);
    _mm256_storeu_ps(row + c, x);
    mv = _mm256_max_ps(mv, x);
  }
  float m = hmax(mv);
  for (; c < n; ++c) {
    row[c] *= scale;
    m = std::max(m, row[c]);
  }
  return m;
}

// row[0, n) = exp(row - shift) (fast_exp vectorizes); returns their sum.
float exp_sum(float* row, int64_t n, float shift) {
  for (int64_t c = 0; c < n; ++c) row[c] = fast_exp(row[c] - shift);
  __m256 sv = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) sv = _mm256_add_ps(sv, _mm256_loadu_ps(row + c));
  float s = hsum(sv);
  for (; c < n; ++c) s += row[c];
  return s;
}

std::vector<float>& buffer() {
  thread_local std::vector<float> buf;
  return buf;
}

// Per-thread scratch carved from one vector.
float* carve(int64_t total) {
  std::vector<float>& buf = buffer();
  if (static_cast<int64_t>(buf.size()) < total) buf.resize(static_cast<size_t>(total));
  return buf.data();
}

int64_t valid_keys(bool causal, int64_t i, int64_t j0, int64_t bk) {
  return causal ? std::clamp<int64_t>(i - j0 + 1, 0, bk) : bk;
}

}  // namespace

bool supported(int64_t D, int64_t Dv, bool masked, bool dropout) {
  return !masked && !dropout && D > 0 && Dv > 0 && D % 8 == 0 && Dv % 8 == 0;
}

void forward_rows(const float* q, const float* k, const float* v, float* out, float* lse,
                  int64_t Tk, int64_t D, int64_t Dv, int64_t ia, int64_t ib, float scale,
                  bool causal) {
  const int64_t keys = causal ? std::min(Tk, ib) : Tk, ldk = round8(keys);
  const int64_t bq_max = std::min(kBlockQ, ib - ia), bkp_max = round8(std::min(keys, kBlockK));
  float* kt = carve(D * ldk + bq_max * bkp_max + bq_max * Dv + 2 * bq_max);
  float* s = kt + D * ldk;          // (bq, bkp) scores, then probabilities
  float* o = s + bq_max * bkp_max;  // (bq, Dv) unnormalized output
  float* m = o + bq_max * Dv;       // running row max
  float* l = m + bq_max;            // running row sum of exp
  const float neg_inf = -std::numeric_limits<float>::infinity();
  pack_t(kt, ldk, k, keys, D);  // once for all the rows' query blocks
  for (int64_t i0 = ia; i0 < ib; i0 += kBlockQ) {
    const int64_t bq = std::min(kBlockQ, ib - i0);
    const int64_t kend = causal ? std::min(keys, i0 + bq) : keys;
    std::fill_n(o, bq * Dv, 0.f);
    std::fill_n(m, bq, neg_inf);
    std::fill_n(l, bq, 0.f);
    const float* qi = q + i0 * D;
    for (int64_t j0 = 0; j0 < kend; j0 += kBlockK) {
      const int64_t bk = std::min(kBlockK, kend - j0), bkp = round8(bk);
      const int64_t diag = i0 - j0;
      gemm(s, bkp, {qi, D, 1}, kt + j0, ldk, bq, bkp, D, false, causal ? Skip::cols : Skip::none,
           diag);
      for (int64_t r = 0; r < bq; ++r) {
        float* row = s + r * bkp;
        const int64_t valid = valid_keys(causal, i0 + r, j0, bk);
        const float mx = valid > 0 ? scale_max(row, valid, scale) : neg_inf;
        const float m_new = std::max(m[r], mx);
        if (m_new == neg_inf) {  // nothing to attend to yet in this row (or only NaN)
          if (std::any_of(row, row + valid, [](float x) { return std::isnan(x); }))
            m[r] = l[r] = std::numeric_limits<float>::quiet_NaN();  // sticks to the row
          std::fill(row, row + bkp, 0.f);
          continue;
        }
        const float alpha = std::exp(m[r] - m_new);  // 0 on the first block with a finite max
        l[r] = l[r] * alpha + exp_sum(row, valid, m_new);
        std::fill(row + valid, row + bkp, 0.f);
        if (m[r] != neg_inf && alpha != 1.f)  // o is still 0 before the first finite max
          for (int64_t c = 0; c < Dv; ++c) o[r * Dv + c] *= alpha;
        m[r] = m_new;
      }
      gemm(o, Dv, {s, bkp, 1}, v + j0 * Dv, Dv, bq, Dv, bk, true, causal ? Skip::depth : Skip::none,
           diag);
    }
    for (int64_t r = 0; r < bq; ++r) {
      const float inv = 1.f / l[r];  // l = 0 (all masked): NaN, as softmax gives
      for (int64_t c = 0; c < Dv; ++c) out[(i0 + r) * Dv + c] = o[r * Dv + c] * inv;
      lse[i0 + r] = m[r] + std::log(l[r]);
    }
  }
}

void backward_range(const float* q, const float* k, const float* v, const float* out,
                    const float* lse, const float* dout, float* dq, float* dk, float* dv,
                    int64_t Tq, int64_t D, int64_t Dv, int64_t ka, int64_t kb, float scale,
                    bool causal) {
  const int64_t bk_max = std::min(kb - ka, kBlockK), bkp_max = round8(bk_max);
  const int64_t bq_max = std::min(kBlockQ, Tq);
  float* kt = carve((D + Dv + 2 * bq_max) * bkp_max + Tq);
  float* vt = kt + D * bkp_max;          // (Dv, bkp) V^T
  float* p = vt + Dv * bkp_max;          // (bq, bkp) probabilities
  float* ds = p + bq_max * bkp_max;      // (bq, bkp) dP, then dS
  float* delta = ds + bq_max * bkp_max;  // (Tq) rowsum(dout o out)
  std::fill(dk + ka * D, dk + kb * D, 0.f);
  std::fill(dv + ka * Dv, dv + kb * Dv, 0.f);
  for (int64_t r = 0; r < Tq; ++r) {  // 8 lanes (Dv % 8 == 0): a scalar sum waits on each add
    __m256 acc = _mm256_setzero_ps();
    for (int64_t c = 0; c < Dv; c += 8)
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(dout + r * Dv + c), _mm256_loadu_ps(out + r * Dv + c),
                            acc);
    delta[r] = hsum(acc);
  }
  // Key blocks outermost (FlashAttention-2's backward order): K^T and V^T packed once per
  // block, dk and dv of the block stay in cache while the query blocks pass.
  for (int64_t j0 = ka; j0 < kb; j0 += bk_max) {
    const int64_t bk_all = std::min(bk_max, kb - j0);
    pack_t(kt, bkp_max, k + j0 * D, bk_all, D);
    pack_t(vt, bkp_max, v + j0 * Dv, bk_all, Dv);
    for (int64_t i0 = causal ? j0 / kBlockQ * kBlockQ : 0; i0 < Tq; i0 += kBlockQ) {
      const int64_t bq = std::min(kBlockQ, Tq - i0);
      // Causal: the block's queries see keys below i0 + bq only.
      const int64_t bk = causal ? std::min(bk_all, i0 + bq - j0) : bk_all, bkp = round8(bk);
      const int64_t diag = i0 - j0;
      const float* qi = q + i0 * D;
      const float* doi = dout + i0 * Dv;
      const Skip cols = causal ? Skip::cols : Skip::none;
      gemm(p, bkp, {qi, D, 1}, kt, bkp_max, bq, bkp, D, false, cols, diag);
      gemm(ds, bkp, {doi, Dv, 1}, vt, bkp_max, bq, bkp, Dv, false, cols, diag);
      for (int64_t r = 0; r < bq; ++r) {
        float* prow = p + r * bkp;
        float* drow = ds + r * bkp;
        const int64_t valid = valid_keys(causal, i0 + r, j0, bk);
        const float shift = lse[i0 + r], dr = delta[i0 + r];
        for (int64_t c = 0; c < valid; ++c) prow[c] = fast_exp(prow[c] * scale - shift);
        for (int64_t c = 0; c < valid; ++c) drow[c] = prow[c] * (drow[c] - dr) * scale;
        std::fill(prow + valid, prow + bkp, 0.f);
        std::fill(drow + valid, drow + bkp, 0.f);
      }
      const Skip depth = causal ? Skip::depth : Skip::none;
      const Skip from = causal ? Skip::depth_from : Skip::none;
      gemm(dv + j0 * Dv, Dv, {p, 1, bkp}, doi, Dv, bk, Dv, bq, true, from, diag);
      gemm(dq + i0 * D, D, {ds, bkp, 1}, k + j0 * D, D, bq, D, bk, true, depth, diag);
      gemm(dk + j0 * D, D, {ds, 1, bkp}, qi, D, bk, D, bq, true, from, diag);
    }
  }
}

#else  // no AVX2/FMA: attention.cpp's Eigen path runs everything

bool supported(int64_t, int64_t, bool, bool) { return false; }
void forward_rows(const float*, const float*, const float*, float*, float*, int64_t, int64_t,
                  int64_t, int64_t, int64_t, float, bool) {}
void backward_range(const float*, const float*, const float*, const float*, const float*,
                    const float*, float*, float*, float*, int64_t, int64_t, int64_t, int64_t,
                    int64_t, float, bool) {}

#endif

}  // namespace ember::cpu::attn_f32
