// The 16-bit tensor-core version of attention.cu's kernels (sm_80+, D = Dv in {32, 64, 128}):
// for f32 tensors when ember::backends::cuda::attention = bf16, and always for bf16 and f16
// tensors (issue 16). G is the tensors' element type (float, ember::bf16, ember::f16), M the
// tensor-core operand type: __nv_bfloat16, or __half for f16 tensors (whose 11 significant
// bits bf16 would cut to 8); lse and delta are f32 whatever G. attention.cu's launchers choose
// this version (attention_wmma.h) and compute the backward's delta. On sim, warp_mma computes
// the same bf16 products lane by lane instead of through WMMA, so the rest of these kernels
// (staging, masks, softmax, dropout, barriers) is tested there; only the WMMA calls need a GPU.
//
// Math as in attention.cu. Every product runs on the tensor cores through WMMA
// (16 x 16 x 16 bf16 tiles, f32 accumulation): q, k, v and dout tiles are converted to
// bf16 as they are staged in shared memory, and so are P o Z and dS before they are
// multiplied; scores, the online softmax, P, dP and every accumulator stay in f32.
// Split: a block of 4 warps owns 64 rows (queries; keys in dk/dv), 16 per warp, and streams
//   64-wide tiles of the other side; each warp computes its 16 x 64 strip of S (and dP)
//   into shared f32 memory, its two lanes per row apply scale, mask, causal, softmax and
//   dropout with attention_scores.h's Scores, and the warp multiplies its strip into its 16
//   rows of the f32 accumulators (in shared memory: the forward rescales them by row between
//   tiles, which WMMA's opaque fragments do not allow). Only the tile loads need the block.
// Cost: FLOPs as attention.cu; tensor-core bf16 instead of f32 FMA. Shared memory
//   (DH = head dim): forward 2 (3 * 64 DH + 64 * 64) + 4 (64 * 64 + 64 DH) bytes (104 KiB at
//   DH = 128), dk/dv 2 (4 * 64 DH + 2 * 64 * 64) + 4 (2 * 64 * 64 + 2 * 64 DH + 128) (194 KiB),
//   dq 2 (4 * 64 DH + 64 * 64) + 4 (2 * 64 * 64 + 64 DH) (136 KiB).
// Precision: bf16 operands (8 significant bits): errors of about 1e-2 relative to the
//   outputs' scale, as any bf16 attention (f16: about 1e-3); bf16/f16 tensors lose nothing
//   when staged, only P o Z and dS are rounded to M, and the outputs once to G.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cuda/attention_scores.h"
#include "kernels/cuda/attention_wmma.h"
#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"

#if defined(__CUDACC__)
#include <mma.h>
#endif

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kRows = 16 * kWarps;  // rows a block owns
constexpr int kCols = 64;           // columns of a streamed tile

// float -> the operand type M, rounded to nearest.
template <typename M>
__device__ __forceinline__ M to_mma(float x) {
  if constexpr (std::is_same_v<M, __half>) {
    return __float2half_rn(x);
  } else {
    return __float2bfloat16(x);
  }
}
#if !defined(__CUDACC__)
// And back, for sim's products (warp_mma); nvcc would call these unreferenced.
__device__ __forceinline__ float mma_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float mma_float(__half x) { return __half2float(x); }
#endif

// Rows [r0, r0 + 64) of a (rows, width) matrix of G into shared M (64, width), zeros past `rows`.
template <typename M, typename G>
__device__ __forceinline__ void load_bf16(M* dst, const G* src, int64_t r0, int64_t rows,
                                          int width) {
  const int n = kRows * width;
  for (int e = static_cast<int>(threadIdx.x); e < n; e += kThreads) {
    const int r = e / width, c = e % width;
    dst[e] = to_mma<M>(r0 + r < rows ? static_cast<float>(src[(r0 + r) * width + c]) : 0.0f);
  }
}

// The key and value tiles at j0 into shared memory, once the block is done with the last ones.
template <typename M, typename G>
__device__ __forceinline__ void stage_kv(M* ks, M* vs, const G* k, const G* v,
                                         const AttentionArgs& a, int64_t bh, int64_t j0, int dh) {
  __syncthreads();
  load_bf16(ks, k + bh * a.Tk * dh, j0, a.Tk, dh);
  load_bf16(vs, v + bh * a.Tk * dh, j0, a.Tk, dh);
  __syncthreads();
}

// One warp: C (16 x N, f32, row-major, ldc) = [C +] A (16 x K, bf16 row-major, lda) B, with
// B (K x N) row-major (ldb) or, with kBt, the transpose of a row-major (N x K) matrix.
template <int N, int K, bool kBt, typename M>
__device__ __forceinline__ void warp_mma(float* C, int ldc, const M* A, int lda, const M* B,
                                         int ldb, bool accumulate) {
#if defined(__CUDACC__)
#if __CUDA_ARCH__ >= 800
  namespace w = nvcuda::wmma;
  using BLayout = std::conditional_t<kBt, w::col_major, w::row_major>;
#pragma unroll
  for (int n = 0; n < N / 16; ++n) {
    w::fragment<w::accumulator, 16, 16, 16, float> c;
    if (accumulate) {
      w::load_matrix_sync(c, C + n * 16, ldc, w::mem_row_major);
    } else {
      w::fill_fragment(c, 0.0f);
    }
#pragma unroll
    for (int k = 0; k < K / 16; ++k) {
      w::fragment<w::matrix_a, 16, 16, 16, M, w::row_major> a;
      w::fragment<w::matrix_b, 16, 16, 16, M, BLayout> b;
      w::load_matrix_sync(a, A + k * 16, lda);
      w::load_matrix_sync(b, kBt ? B + n * 16 * ldb + k * 16 : B + k * 16 * ldb + n * 16, ldb);
      w::mma_sync(c, a, b, c);
    }
    w::store_matrix_sync(C + n * 16, c, ldc, w::mem_row_major);
  }
#else
  (void)C, (void)ldc, (void)A, (void)lda, (void)B, (void)ldb, (void)accumulate;
  __trap();  // the launcher never selects this path below sm_80
#endif
#else
  // sim has no tensor cores: the same bf16 products with f32 sums, each lane computing every
  // 32nd element of C, so everything around the product runs as on a GPU.
  for (int e = static_cast<int>(threadIdx.x % 32); e < 16 * N; e += 32) {
    const int row = e / N, col = e % N;
    float sum = accumulate ? C[row * ldc + col] : 0.0f;
    for (int kk = 0; kk < K; ++kk)
      sum += mma_float(A[row * lda + kk]) * mma_float(kBt ? B[col * ldb + kk] : B[kk * ldb + col]);
    C[row * ldc + col] = sum;
  }
  __syncwarp();
#endif
}

// The lanes of a warp over its 16-row strip: two lanes per row, 32 columns each.
struct StripLane {
  int row, col0;  // row within the strip, first of its 32 columns
  __device__ __forceinline__ StripLane()
      : row(static_cast<int>(threadIdx.x % 32) / 2), col0((threadIdx.x % 2) * 32) {}
};

__device__ __forceinline__ float pair_max(float v) {
  return nan_max(v, __shfl_xor_sync(0xFFFFFFFFu, v, 1));
}
__device__ __forceinline__ float pair_sum(float v) {
  return v + __shfl_xor_sync(0xFFFFFFFFu, v, 1);
}

template <int DH, typename G, typename M>
__global__ void __launch_bounds__(kThreads)
    fwd(G* out, float* lse, const G* q, const G* k, const G* v, const G* mask, AttentionArgs a) {
  const int64_t bh = blockIdx.x, i0 = static_cast<int64_t>(blockIdx.y) * kRows;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const StripLane ln;
  const int r = warp * 16 + ln.row;  // the lane's row of the block
  const int64_t i = i0 + r;
  EMBER_DYNAMIC_SHARED(unsigned char, smem);
  M* qs = reinterpret_cast<M*>(smem);                        // (64, DH)
  M* ks = qs + kRows * DH;                                   // (64, DH)
  M* vs = ks + kCols * DH;                                   // (64, DH)
  M* pb = vs + kCols * DH;                                   // (64, 64): P o Z
  float* sf = reinterpret_cast<float*>(pb + kRows * kCols);  // (64, 64): S
  float* of = sf + kRows * kCols;                            // (64, DH): the unnormalized output
  const Scores<float, G> sc{a, mask_of(mask, a, bh), bh};
  load_bf16(qs, q + bh * a.Tq * DH, i0, a.Tq, DH);
  for (int e = static_cast<int>(threadIdx.x); e < kRows * DH; e += kThreads) of[e] = 0.0f;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  float m = neg_inf, l = 0;
  const int64_t kend = key_end(a, i0, kRows);
  for (int64_t j0 = 0; j0 < kend; j0 += kCols) {
    stage_kv(ks, vs, k, v, a, bh, j0, DH);
    warp_mma<kCols, DH, true, M>(sf + warp * 16 * kCols, kCols, qs + warp * 16 * DH, DH, ks, DH,
                                 false);
    __syncwarp();
    float* srow = sf + r * kCols;
    float mx = neg_inf;
    for (int c = ln.col0; c < ln.col0 + 32; ++c) {
      const int64_t j = j0 + c;
      srow[c] = sc.live(i, j) ? sc.score(srow[c], i, j) : neg_inf;
      mx = nan_max(mx, srow[c]);
    }
    mx = pair_max(mx);
    const float m_new = nan_max(m, mx);
    const bool any = !(m_new == neg_inf);
    const float alpha = any ? __expf(m - m_new) : 1.0f;
    float psum = 0;
    for (int c = ln.col0; c < ln.col0 + 32; ++c) {
      const float p = any ? __expf(srow[c] - m_new) : 0.0f;
      psum += p;
      pb[r * kCols + c] = to_mma<M>(sc.drop(p, i, j0 + c));
    }
    l = l * alpha + pair_sum(psum);
    if (any) m = m_new;
    for (int d = ln.col0 * DH / 64; d < (ln.col0 + 32) * DH / 64; ++d) of[r * DH + d] *= alpha;
    __syncwarp();
    warp_mma<DH, kCols, false, M>(of + warp * 16 * DH, DH, pb + warp * 16 * kCols, kCols, vs, DH,
                                  true);
    __syncwarp();
  }
  if (i < a.Tq) {
    const float inv = 1.0f / l;
    for (int d = ln.col0 * DH / 64; d < (ln.col0 + 32) * DH / 64; ++d)
      out[(bh * a.Tq + i) * DH + d] = G(of[r * DH + d] * inv);
    if (ln.col0 == 0) lse[bh * a.Tq + i] = m + logf(l);
  }
}

// Rows are keys j; streams query tiles.
template <int DH, typename G, typename M>
__global__ void __launch_bounds__(kThreads)
    bwd_dkdv(G* dk, G* dv, const G* dout, const G* q, const G* k, const G* v, const float* lse,
             const float* delta, const G* mask, AttentionArgs a) {
  const int64_t bh = blockIdx.x, j0 = static_cast<int64_t>(blockIdx.y) * kRows;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const StripLane ln;
  const int r = warp * 16 + ln.row;
  const int64_t j = j0 + r;
  EMBER_DYNAMIC_SHARED(unsigned char, smem);
  M* ks = reinterpret_cast<M*>(smem);                         // (64, DH): the block's keys
  M* vs = ks + kRows * DH;                                    // (64, DH)
  M* qs = vs + kRows * DH;                                    // (64, DH): a query tile
  M* dos = qs + kCols * DH;                                   // (64, DH)
  M* pzb = dos + kCols * DH;                                  // (64 keys, 64 queries): (P o Z)^T
  M* dsb = pzb + kRows * kCols;                               // (64, 64): dS^T
  float* sf = reinterpret_cast<float*>(dsb + kRows * kCols);  // (64, 64): S^T, then P^T
  float* df = sf + kRows * kCols;                             // (64, 64): dP^T
  float* dkf = df + kRows * kCols;                            // (64, DH)
  float* dvf = dkf + kRows * DH;                              // (64, DH)
  float* ls = dvf + kRows * DH;                               // (64): lse of the tile's queries
  float* dl = ls + kCols;                                     // (64): delta
  const Scores<float, G> sc{a, mask_of(mask, a, bh), bh};
  load_bf16(ks, k + bh * a.Tk * DH, j0, a.Tk, DH);
  load_bf16(vs, v + bh * a.Tk * DH, j0, a.Tk, DH);
  for (int e = static_cast<int>(threadIdx.x); e < kRows * DH; e += kThreads) dkf[e] = dvf[e] = 0.0f;
  for (int64_t i0 = a.causal ? j0 : 0; i0 < a.Tq; i0 += kCols) {
    __syncthreads();
    load_bf16(qs, q + bh * a.Tq * DH, i0, a.Tq, DH);
    load_bf16(dos, dout + bh * a.Tq * DH, i0, a.Tq, DH);
    for (int c = static_cast<int>(threadIdx.x); c < kCols; c += kThreads) {
      ls[c] = i0 + c < a.Tq ? lse[bh * a.Tq + i0 + c] : 0.0f;
      dl[c] = i0 + c < a.Tq ? delta[bh * a.Tq + i0 + c] : 0.0f;
    }
    __syncthreads();
    warp_mma<kCols, DH, true, M>(sf + warp * 16 * kCols, kCols, ks + warp * 16 * DH, DH, qs, DH,
                                 false);
    warp_mma<kCols, DH, true, M>(df + warp * 16 * kCols, kCols, vs + warp * 16 * DH, DH, dos, DH,
                                 false);
    __syncwarp();
    for (int c = ln.col0; c < ln.col0 + 32; ++c) {
      const int64_t i = i0 + c;
      float pz = 0, ds = 0;
      if (sc.live(i, j)) {
        const float p = __expf(sc.score(sf[r * kCols + c], i, j) - ls[c]);
        pz = sc.drop(p, i, j);
        ds = p * (sc.drop(df[r * kCols + c], i, j) - dl[c]);
      }
      pzb[r * kCols + c] = to_mma<M>(pz);
      dsb[r * kCols + c] = to_mma<M>(ds);
    }
    __syncwarp();
    warp_mma<DH, kCols, false, M>(dvf + warp * 16 * DH, DH, pzb + warp * 16 * kCols, kCols, dos, DH,
                                  true);
    warp_mma<DH, kCols, false, M>(dkf + warp * 16 * DH, DH, dsb + warp * 16 * kCols, kCols, qs, DH,
                                  true);
    __syncwarp();
  }
  if (j < a.Tk) {
    const float scale = static_cast<float>(a.scale);
    for (int d = ln.col0 * DH / 64; d < (ln.col0 + 32) * DH / 64; ++d) {
      dk[(bh * a.Tk + j) * DH + d] = G(dkf[r * DH + d] * scale);
      dv[(bh * a.Tk + j) * DH + d] = G(dvf[r * DH + d]);
    }
  }
}

// Rows are queries i; streams key tiles.
template <int DH, typename G, typename M>
__global__ void __launch_bounds__(kThreads)
    bwd_dq(G* dq, const G* dout, const G* q, const G* k, const G* v, const float* lse,
           const float* delta, const G* mask, AttentionArgs a) {
  const int64_t bh = blockIdx.x, i0 = static_cast<int64_t>(blockIdx.y) * kRows;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const StripLane ln;
  const int r = warp * 16 + ln.row;
  const int64_t i = i0 + r;
  EMBER_DYNAMIC_SHARED(unsigned char, smem);
  M* qs = reinterpret_cast<M*>(smem);                         // (64, DH)
  M* dos = qs + kRows * DH;                                   // (64, DH)
  M* ks = dos + kRows * DH;                                   // (64, DH): a key tile
  M* vs = ks + kCols * DH;                                    // (64, DH)
  M* dsb = vs + kCols * DH;                                   // (64, 64): dS
  float* sf = reinterpret_cast<float*>(dsb + kRows * kCols);  // (64, 64): S
  float* df = sf + kRows * kCols;                             // (64, 64): dP
  float* dqf = df + kRows * kCols;                            // (64, DH)
  const Scores<float, G> sc{a, mask_of(mask, a, bh), bh};
  load_bf16(qs, q + bh * a.Tq * DH, i0, a.Tq, DH);
  load_bf16(dos, dout + bh * a.Tq * DH, i0, a.Tq, DH);
  for (int e = static_cast<int>(threadIdx.x); e < kRows * DH; e += kThreads) dqf[e] = 0.0f;
  const float lse_i = i < a.Tq ? lse[bh * a.Tq + i] : 0.0f;
  const float delta_i = i < a.Tq ? delta[bh * a.Tq + i] : 0.0f;
  const int64_t kend = key_end(a, i0, kRows);
  for (int64_t j0 = 0; j0 < kend; j0 += kCols) {
    stage_kv(ks, vs, k, v, a, bh, j0, DH);
    warp_mma<kCols, DH, true, M>(sf + warp * 16 * kCols, kCols, qs + warp * 16 * DH, DH, ks, DH,
                                 false);
    warp_mma<kCols, DH, true, M>(df + warp * 16 * kCols, kCols, dos + warp * 16 * DH, DH, vs, DH,
                                 false);
    __syncwarp();
    for (int c = ln.col0; c < ln.col0 + 32; ++c) {
      const int64_t j = j0 + c;
      float ds = 0;
      if (sc.live(i, j)) {
        const float p = __expf(sc.score(sf[r * kCols + c], i, j) - lse_i);
        ds = p * (sc.drop(df[r * kCols + c], i, j) - delta_i);
      }
      dsb[r * kCols + c] = to_mma<M>(ds);
    }
    __syncwarp();
    warp_mma<DH, kCols, false, M>(dqf + warp * 16 * DH, DH, dsb + warp * 16 * kCols, kCols, ks, DH,
                                  true);
    __syncwarp();
  }
  if (i < a.Tq) {
    const float scale = static_cast<float>(a.scale);
    for (int d = ln.col0 * DH / 64; d < (ln.col0 + 32) * DH / 64; ++d)
      dq[(bh * a.Tq + i) * DH + d] = G(dqf[r * DH + d] * scale);
  }
}

constexpr size_t fwd_shared(int dh) {
  return 2 * (3 * kRows * dh + kRows * kCols) + 4 * (kRows * kCols + kRows * dh);
}
constexpr size_t dkdv_shared(int dh) {
  return 2 * (4 * kRows * dh + 2 * kRows * kCols) +
         4 * (2 * kRows * kCols + 2 * kRows * dh + 2 * kCols);
}
constexpr size_t dq_shared(int dh) {
  return 2 * (4 * kRows * dh + kRows * kCols) + 4 * (2 * kRows * kCols + kRows * dh);
}

inline dim3 grid_of(const AttentionArgs& a, int64_t rows) {
  return dim3(static_cast<unsigned>(a.B * a.H), static_cast<unsigned>((rows + kRows - 1) / kRows));
}

template <int DH, typename G, typename M>
void forward(const AttentionArgs& a, G* out, float* lse, const G* q, const G* k, const G* v,
             const G* mask) {
  const LaunchConfig cfg{"attention_bf16_fwd", grid_of(a, a.Tq), dim3(kThreads), fwd_shared(DH)};
  check_shared(cfg.name, a, cfg.shared_bytes);
  launch(cfg, &fwd<DH, G, M>, out, lse, q, k, v, mask, a);
}

template <int DH, typename G, typename M>
void backward(const AttentionArgs& a, G* dq, G* dk, G* dv, const G* dout, const G* q, const G* k,
              const G* v, const float* lse, const float* delta, const G* mask) {
  const LaunchConfig kv{"attention_bf16_bwd_dkdv", grid_of(a, a.Tk), dim3(kThreads),
                        dkdv_shared(DH)};
  check_shared(kv.name, a, kv.shared_bytes);
  launch(kv, &bwd_dkdv<DH, G, M>, dk, dv, dout, q, k, v, lse, delta, mask, a);
  const LaunchConfig qc{"attention_bf16_bwd_dq", grid_of(a, a.Tq), dim3(kThreads), dq_shared(DH)};
  check_shared(qc.name, a, qc.shared_bytes);
  launch(qc, &bwd_dq<DH, G, M>, dq, dout, q, k, v, lse, delta, mask, a);
}

// The tensors' type G and the operand type M of each dtype: bf16 operands for f32 and bf16
// tensors, f16 for f16 tensors.
template <typename G, typename M>
void forward_typed(const AttentionArgs& a, void* out, float* lse, const void* q, const void* k,
                   const void* v, const void* mask) {
  auto* o = static_cast<G*>(out);
  const auto *qq = static_cast<const G*>(q), *kk = static_cast<const G*>(k);
  const auto *vv = static_cast<const G*>(v), *m = static_cast<const G*>(mask);
  switch (head_dim_of(a)) {
    case 32: return forward<32, G, M>(a, o, lse, qq, kk, vv, m);
    case 64: return forward<64, G, M>(a, o, lse, qq, kk, vv, m);
    default: return forward<128, G, M>(a, o, lse, qq, kk, vv, m);
  }
}

template <typename G, typename M>
void backward_typed(const AttentionArgs& a, void* dq, void* dk, void* dv, const void* dout,
                    const void* q, const void* k, const void* v, const float* lse,
                    const float* delta, const void* mask) {
  auto *gq = static_cast<G*>(dq), *gk = static_cast<G*>(dk), *gv = static_cast<G*>(dv);
  const auto* go = static_cast<const G*>(dout);
  const auto *qq = static_cast<const G*>(q), *kk = static_cast<const G*>(k);
  const auto *vv = static_cast<const G*>(v), *m = static_cast<const G*>(mask);
  switch (head_dim_of(a)) {
    case 32: return backward<32, G, M>(a, gq, gk, gv, go, qq, kk, vv, lse, delta, m);
    case 64: return backward<64, G, M>(a, gq, gk, gv, go, qq, kk, vv, lse, delta, m);
    default: return backward<128, G, M>(a, gq, gk, gv, go, qq, kk, vv, lse, delta, m);
  }
}

}  // namespace

bool attention_half_fast_path(const AttentionArgs& a) {
  const int dh = head_dim_of(a);
  if (dh == 0 || rt::props().major < 8) return false;
#if EMBER_VARIANT_IS_CUDA
  const size_t most = std::max({fwd_shared(dh), dkdv_shared(dh), dq_shared(dh)});
  return most <= rt::props().shared_per_block_optin;
#else
  return true;
#endif
}

void launch_attention_wmma_forward(DType dtype, const AttentionArgs& a, void* out, float* lse,
                                   const void* q, const void* k, const void* v, const void* mask) {
  switch (dtype) {
    case DType::f32: return forward_typed<float, __nv_bfloat16>(a, out, lse, q, k, v, mask);
    case DType::bf16: return forward_typed<ember::bf16, __nv_bfloat16>(a, out, lse, q, k, v, mask);
    case DType::f16: return forward_typed<ember::f16, __half>(a, out, lse, q, k, v, mask);
    default: fail<InternalError>("attention", "no tensor-core kernel for ", dtype);
  }
}

void launch_attention_wmma_backward(DType dtype, const AttentionArgs& a, void* dq, void* dk,
                                    void* dv, const void* dout, const void* q, const void* k,
                                    const void* v, const float* lse, const float* delta,
                                    const void* mask) {
  switch (dtype) {
    case DType::f32:
      return backward_typed<float, __nv_bfloat16>(a, dq, dk, dv, dout, q, k, v, lse, delta, mask);
    case DType::bf16:
      return backward_typed<ember::bf16, __nv_bfloat16>(a, dq, dk, dv, dout, q, k, v, lse, delta,
                                                        mask);
    case DType::f16:
      return backward_typed<ember::f16, __half>(a, dq, dk, dv, dout, q, k, v, lse, delta, mask);
    default: fail<InternalError>("attention_backward", "no tensor-core kernel for ", dtype);
  }
}

}  // namespace ember::EMBER_VARIANT
