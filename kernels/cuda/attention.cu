// Fused attention, FlashAttention-style: forward (saving the log-sum-exp) and backward
// (recomputing the probabilities). The (Tq, Tk) score matrix never reaches global memory.
//
// Math, per batch b and head h (S and P exist one 32 x 32 tile at a time):
//   S_ij = scale q_i . k_j + mask_ij, S_ij = -inf for j > i when causal (top-left aligned)
//   P = softmax_rows(S),  lse_i = log sum_j exp(S_ij),  out = (P o Z) v
//   Z_ij = keep_ij / (1 - p) with dropout (tensor/philox.h: dropout_keep of the linear index
//   ((b H + h) Tq + i) Tk + j), else 1.
// backward, with dout given and P recomputed as exp(S - lse):
//   delta_i = dout_i . out_i  (= rowsum(P o Z o dP), the softmax's correction term)
//   dv = (P o Z)^T dout,  dS = P o (Z o (dout v^T) - delta),  dq = scale dS k,  dk = scale dS^T q
// Shapes: q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), out/dout (B, H, Tq, Dv),
//         lse (B, H, Tq); mask additive, (B, H, Tq, Tk) read through strides (ms0, ms1, ms2)
//         with unit stride along keys, or absent. All else contiguous.
//
// Split: a block of 128 threads owns 32 rows (queries, or keys in dk/dv); the 4 consecutive
//   lanes of a row each own every 4th column of a streamed 32-wide tile and every 4th
//   feature of the row's accumulators (registers when D = Dv in {32, 64, 128}, a
//   compile-time head dim; shared memory in the general path, any D and Dv).
//   grid = (B H, ceil(rows / 32)). Tiles of the streamed operand are staged in shared
//   memory (rows padded by one element against bank conflicts), zero past the sequence end.
//   - forward: rows are queries; for each key tile: S (each lane 8 scores), the row max and
//     sum over the 4 lanes by xor shuffles, the online softmax (accumulator rescaled by
//     exp(m_old - m_new)), P o Z to shared memory, O += (P o Z) V. Causal blocks stop at
//     their last query.
//   - backward, three kernels and no atomics (deterministic, at the price of computing S
//     and dout v^T twice): attention_delta (one warp per row), attention_bwd_dkdv (rows
//     are keys; for each query tile from the first that sees them: P, dP, dv += (P o Z)^T
//     dout, dk += dS^T q) and attention_bwd_dq (rows are queries; for each key tile:
//     dq += dS k).
//
// Cost per call (F = sizeof(T); causal about halves the FLOPs; exp counted as 1):
//   FLOPs: forward 2 B H Tq Tk (D + Dv) + ~6 B H Tq Tk;
//          backward 2 B H Tq Tk (4 D + 3 Dv) + ~10 B H Tq Tk (dk/dv: S, dP, dv, dk; dq: S, dP,
//          dq), against 2 B H Tq Tk (3 D + 2 Dv) for a backward that adds dq with atomics:
//          40% more at D = Dv, the price of determinism.
//   Bytes: forward F B H (Tq D + (Tk D + Tk Dv) ceil(Tq / 32) + Tq Dv + Tq), the K, V
//          re-reads mostly from L2; backward F B H ((Tq D + 2 Tq Dv + 2 Tq) ceil(Tk / 32)
//          + (Tk D + Tk Dv) ceil(Tq / 32) + 2 Tk D + 2 Tk Dv + 2 Tq D); plus the mask read
//          twice in the backward.
//   Shared memory: forward F (32 (D + 1) + 32 (D + 1) + 32 (Dv + 1) + 32 * 33) (+ F 32 Dv in
//          the general path); the backward kernels about twice that.
// Preconditions (checked by tensor/raw_nn.cpp): f32, f64, bf16 or f16 (lse f32 for the
//   last two, which run attention_wmma.cu only: D = Dv in {32, 64, 128} on sm_80+ and sim,
//   attention_half_fast_path; the backend widens other head dims to f32), B H Tq Tk > 0, D, Dv >=
//   0, dropout_p in [0, 1]. On cuda the shared memory above must fit the device (f64 with D = Dv =
//   128 takes about 150 KiB in the backward; D = Dv = 256 in f64 does not fit Hopper's 227 KiB):
//   the launchers check and throw ValueError naming the head dims. A row's tiles in shared memory
//   are written and read by its own 4 lanes, all in one warp: __syncwarp orders them; __syncthreads
//   only guards the staged tiles. A row whose scores are all -inf gives NaN in out and -inf in lse,
//   as the cpu does.
// Versions: this portable SIMT path (f32, f64), and a 16-bit tensor-core path
//   (attention_wmma.cu; on sim its products are computed lane by lane instead of by WMMA):
//   for f32 when ember::backends::cuda::attention says bf16 (tensor/backends.h), and for
//   bf16/f16 tensors always, selected by their dtype (issue 16). The launchers below choose;
//   both versions share attention_scores.h (scores, mask, causal limit, dropout).
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_scores.h"
#include "kernels/cuda/attention_wmma.h"
#include "kernels/cuda/device_utils.h"
#include "tensor/backends.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 128;
constexpr int kRows = 32;                     // rows a block owns
constexpr int kCols = 32;                     // columns of a streamed tile
constexpr int kGroup = kThreads / kRows;      // lanes per row
constexpr int kColsPerLane = kCols / kGroup;  // scores per lane and tile
constexpr int kTileLd = kCols + 1;            // row stride of a score tile in shared memory

// The head dim of a block: DH > 0 is compile time (D = Dv = DH), 0 the runtime D and Dv.
template <int DH>
struct Dims {
  int D, Dv;
  EMBER_DEVICE explicit Dims(const AttentionArgs& a)
      : D(DH > 0 ? DH : a.D), Dv(DH > 0 ? DH : a.Dv) {}
};

// The features d = g + kGroup c (c < n) of one row that a lane owns: registers for a
// compile-time head dim, else shared memory (row base + g, stride kGroup).
template <typename T, int DH>
struct LaneRow {
  static constexpr int kRegs = DH > 0 ? DH / kGroup : 1;
  T reg[kRegs];
  T* smem;
  int n;  // features owned
  EMBER_DEVICE LaneRow(T* row_base, int g, int width)
      : smem(row_base + g), n((width - g + kGroup - 1) / kGroup) {
    if (width <= g) n = 0;
  }
  EMBER_DEVICE T& operator[](int c) {
    if constexpr (DH > 0) {
      return reg[c];
    } else {
      return smem[c * kGroup];
    }
  }
  EMBER_DEVICE int count() const { return DH > 0 ? kRegs : n; }
  EMBER_DEVICE void zero() {
    for (int c = 0; c < count(); ++c) (*this)[c] = T(0);
  }
};

// Rows [r0, r0 + kRows) of a (rows, width) matrix into shared (kRows, ld), zeros past `rows`.
template <typename T>
EMBER_DEVICE void load_tile(T* dst, int ld, const T* src, int64_t r0, int64_t rows, int width) {
  const int n = kRows * width;
  for (int e = static_cast<int>(threadIdx.x); e < n; e += kThreads) {
    const int r = e / width, c = e % width;
    dst[r * ld + c] = r0 + r < rows ? src[(r0 + r) * width + c] : T(0);
  }
}

// The key and value tiles at j0 into shared memory, once the block is done with the last ones.
template <typename T>
EMBER_DEVICE void stage_kv(T* ks, int ldk, T* vs, int ldv, const T* k, const T* v,
                           const AttentionArgs& a, int64_t bh, int64_t j0, int D, int Dv) {
  __syncthreads();
  load_tile(ks, ldk, k + bh * a.Tk * D, j0, a.Tk, D);
  load_tile(vs, ldv, v + bh * a.Tk * Dv, j0, a.Tk, Dv);
  __syncthreads();
}

// Values of the rows [r0, r0 + kRows) of a vector, zeros past `rows`.
template <typename T>
EMBER_DEVICE void load_vec(T* dst, const T* src, int64_t r0, int64_t rows) {
  for (int r = static_cast<int>(threadIdx.x); r < kRows; r += kThreads)
    dst[r] = r0 + r < rows ? src[r0 + r] : T(0);
}

template <typename T>
EMBER_DEVICE T dot(const T* a, const T* b, int n) {
  T s = 0;
  for (int d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

// acc[c] += sum_t w[t] tile[t, g + kGroup c] over the tile's kCols rows (features < width).
template <typename T, int DH>
EMBER_DEVICE void accumulate(LaneRow<T, DH>& acc, const T* w, const T* tile, int ld, int g,
                             int width) {
  for (int t = 0; t < kCols; ++t) {
    const T wt = w[t];
    EMBER_UNROLL
    for (int c = 0; c < acc.count(); ++c) {
      const int d = g + kGroup * c;
      if (d < width) acc[c] += wt * tile[t * ld + d];
    }
  }
}

// Reduce over the kGroup lanes of a row (consecutive lanes: xor offsets below kGroup).
template <typename T, typename Merge>
EMBER_DEVICE T row_allreduce(T v, Merge merge) {
  EMBER_UNROLL
  for (int off = kGroup / 2; off > 0; off /= 2) v = merge(v, shfl_xor(v, off));
  return v;
}

// Where a lane sits: head bh, its block's first row, its row r of the block (row0 + r
// overall) and its place g among the row's lanes; plus the head dims.
template <int DH>
struct Place {
  Dims<DH> dm;
  int64_t bh, row0;
  int r, g;
  int64_t row;
  EMBER_DEVICE explicit Place(const AttentionArgs& a)
      : dm(a),
        bh(blockIdx.x),
        row0(static_cast<int64_t>(blockIdx.y) * kRows),
        r(static_cast<int>(threadIdx.x) / kGroup),
        g(static_cast<int>(threadIdx.x) % kGroup),
        row(row0 + r) {}
};

// ---- forward ---------------------------------------------------------------------------

template <typename T, int DH>
__global__ void attention_fwd(T* out, T* lse, const T* q, const T* k, const T* v, const T* mask,
                              AttentionArgs a) {
  const Place<DH> pl(a);
  const auto& dm = pl.dm;
  const int64_t bh = pl.bh, i0 = pl.row0, i = pl.row;
  const int r = pl.r, g = pl.g;
  const int ldq = dm.D + 1, ldv = dm.Dv + 1;
  EMBER_DYNAMIC_SHARED(T, smem);
  T* qs = smem;                  // (kRows, D + 1)
  T* ks = qs + kRows * ldq;      // (kCols, D + 1)
  T* vs = ks + kCols * ldq;      // (kCols, Dv + 1)
  T* ps = vs + kCols * ldv;      // (kRows, kCols + 1): P o Z of the tile
  T* os = ps + kRows * kTileLd;  // general path: (kRows, Dv) accumulators
  const Scores<T> sc{a, mask_of(mask, a, bh), bh};
  load_tile(qs, ldq, q + bh * a.Tq * dm.D, i0, a.Tq, dm.D);
  LaneRow<T, DH> acc(os + r * dm.Dv, g, dm.Dv);
  acc.zero();
  const T neg_inf = -std::numeric_limits<T>::infinity();
  T m = neg_inf, l = 0;
  const int64_t kend = key_end(a, i0, kRows);
  for (int64_t j0 = 0; j0 < kend; j0 += kCols) {
    stage_kv(ks, ldq, vs, ldv, k, v, a, bh, j0, dm.D, dm.Dv);  // (Q is stored too, the first time)
    T s[kColsPerLane];
    T mx = neg_inf;
    EMBER_UNROLL
    for (int c = 0; c < kColsPerLane; ++c) {
      const int jj = g + kGroup * c;
      const int64_t j = j0 + jj;
      s[c] = sc.live(i, j) ? sc.score(dot(qs + r * ldq, ks + jj * ldq, dm.D), i, j) : neg_inf;
      mx = nan_max(mx, s[c]);
    }
    mx = row_allreduce(mx, [](T x, T y) { return nan_max(x, y); });
    const T m_new = nan_max(m, mx);
    const bool any = !(m_new == neg_inf);  // else nothing to attend to yet in this row
    const T alpha = any ? d_exp(m - m_new) : T(1);
    T psum = 0;
    EMBER_UNROLL
    for (int c = 0; c < kColsPerLane; ++c) {
      const int jj = g + kGroup * c;
      const T p = any ? d_exp(s[c] - m_new) : T(0);
      psum += p;
      ps[r * kTileLd + jj] = sc.drop(p, i, j0 + jj);
    }
    psum = row_allreduce(psum, [](T x, T y) { return x + y; });
    l = l * alpha + psum;
    if (any) m = m_new;
    __syncwarp();  // the row's P o Z, written by its 4 lanes of this warp: make it visible
    EMBER_UNROLL
    for (int c = 0; c < acc.count(); ++c) acc[c] *= alpha;
    accumulate(acc, ps + r * kTileLd, vs, ldv, g, dm.Dv);
  }
  if (i < a.Tq) {
    const T inv = T(1) / l;  // l = 0 (all masked): 0 * inf = NaN, as softmax gives
    T* dst = out + (bh * a.Tq + i) * dm.Dv;
    for (int c = 0; c < acc.count(); ++c) {
      const int d = g + kGroup * c;
      if (d >= dm.Dv) break;
      dst[d] = acc[c] * inv;
    }
    if (g == 0) lse[bh * a.Tq + i] = m + d_log(l);
  }
}

// ---- backward --------------------------------------------------------------------------

// delta_i = dout_i . out_i, one warp per row (bf16/f16 rows summed into an f32 delta).
template <typename S, typename T = opmath_t<S>>
__global__ void attention_delta(T* delta, const S* dout, const S* out, int64_t rows, int Dv) {
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  T s = 0;
  for (int d = grp.rank; d < Dv; d += 32)
    s += static_cast<T>(dout[row * Dv + d]) * static_cast<T>(out[row * Dv + d]);
  s = grp.allreduce(s, [](T x, T y) { return x + y; });
  if (grp.rank == 0) delta[row] = s;
}

// Rows are keys j; streams query tiles i.
template <typename T, int DH>
__global__ void attention_bwd_dkdv(T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                                   const T* lse, const T* delta, const T* mask, AttentionArgs a) {
  const Place<DH> pl(a);
  const auto& dm = pl.dm;
  const int64_t bh = pl.bh, j0 = pl.row0, j = pl.row;
  const int r = pl.r, g = pl.g;
  const int ldk = dm.D + 1, ldv = dm.Dv + 1;
  EMBER_DYNAMIC_SHARED(T, smem);
  T* ks = smem;                  // (kRows, D + 1): the block's keys
  T* vs = ks + kRows * ldk;      // (kRows, Dv + 1)
  T* qs = vs + kRows * ldv;      // (kCols, D + 1): a query tile
  T* dos = qs + kCols * ldk;     // (kCols, Dv + 1)
  T* pz = dos + kCols * ldv;     // (kRows, kCols + 1): (P o Z)^T
  T* ds = pz + kRows * kTileLd;  // (kRows, kCols + 1): dS^T
  T* ls = ds + kRows * kTileLd;  // (kCols): lse of the tile's queries
  T* dl = ls + kCols;            // (kCols): delta
  T* acc_s = dl + kCols;         // general path: (kRows, D) dk, then (kRows, Dv) dv
  const Scores<T> sc{a, mask_of(mask, a, bh), bh};
  load_tile(ks, ldk, k + bh * a.Tk * dm.D, j0, a.Tk, dm.D);
  load_tile(vs, ldv, v + bh * a.Tk * dm.Dv, j0, a.Tk, dm.Dv);
  LaneRow<T, DH> acc_k(acc_s + r * dm.D, g, dm.D);
  LaneRow<T, DH> acc_v(acc_s + kRows * dm.D + r * dm.Dv, g, dm.Dv);
  acc_k.zero();
  acc_v.zero();
  // Queries before j0 see none of these keys when causal (kCols divides j0).
  for (int64_t i0 = a.causal ? j0 : 0; i0 < a.Tq; i0 += kCols) {
    __syncthreads();
    load_tile(qs, ldk, q + bh * a.Tq * dm.D, i0, a.Tq, dm.D);
    load_tile(dos, ldv, dout + bh * a.Tq * dm.Dv, i0, a.Tq, dm.Dv);
    load_vec(ls, lse + bh * a.Tq, i0, a.Tq);
    load_vec(dl, delta + bh * a.Tq, i0, a.Tq);
    __syncthreads();
    EMBER_UNROLL
    for (int c = 0; c < kColsPerLane; ++c) {
      const int ii = g + kGroup * c;
      const int64_t i = i0 + ii;
      T pzv = 0, dsv = 0;
      if (sc.live(i, j)) {
        const T p = d_exp(sc.score(dot(qs + ii * ldk, ks + r * ldk, dm.D), i, j) - ls[ii]);
        pzv = sc.drop(p, i, j);
        dsv = p * (sc.drop(dot(dos + ii * ldv, vs + r * ldv, dm.Dv), i, j) - dl[ii]);
      }
      pz[r * kTileLd + ii] = pzv;
      ds[r * kTileLd + ii] = dsv;
    }
    __syncwarp();  // the row's tiles are read by its own 4 lanes only
    accumulate(acc_v, pz + r * kTileLd, dos, ldv, g, dm.Dv);
    accumulate(acc_k, ds + r * kTileLd, qs, ldk, g, dm.D);
  }
  if (j < a.Tk) {
    const T scale = static_cast<T>(a.scale);
    for (int c = 0; c < acc_k.count(); ++c) {
      const int d = g + kGroup * c;
      if (d < dm.D) dk[(bh * a.Tk + j) * dm.D + d] = acc_k[c] * scale;
    }
    for (int c = 0; c < acc_v.count(); ++c) {
      const int d = g + kGroup * c;
      if (d < dm.Dv) dv[(bh * a.Tk + j) * dm.Dv + d] = acc_v[c];
    }
  }
}

// Rows are queries i; streams key tiles j.
template <typename T, int DH>
__global__ void attention_bwd_dq(T* dq, const T* dout, const T* q, const T* k, const T* v,
                                 const T* lse, const T* delta, const T* mask, AttentionArgs a) {
  const Place<DH> pl(a);
  const auto& dm = pl.dm;
  const int64_t bh = pl.bh, i0 = pl.row0, i = pl.row;
  const int r = pl.r, g = pl.g;
  const int ldq = dm.D + 1, ldv = dm.Dv + 1;
  EMBER_DYNAMIC_SHARED(T, smem);
  T* qs = smem;                     // (kRows, D + 1)
  T* dos = qs + kRows * ldq;        // (kRows, Dv + 1)
  T* ks = dos + kRows * ldv;        // (kCols, D + 1)
  T* vs = ks + kCols * ldq;         // (kCols, Dv + 1)
  T* ds = vs + kCols * ldv;         // (kRows, kCols + 1)
  T* acc_s = ds + kRows * kTileLd;  // general path: (kRows, D)
  const Scores<T> sc{a, mask_of(mask, a, bh), bh};
  load_tile(qs, ldq, q + bh * a.Tq * dm.D, i0, a.Tq, dm.D);
  load_tile(dos, ldv, dout + bh * a.Tq * dm.Dv, i0, a.Tq, dm.Dv);
  const T lse_i = i < a.Tq ? lse[bh * a.Tq + i] : T(0);
  const T delta_i = i < a.Tq ? delta[bh * a.Tq + i] : T(0);
  LaneRow<T, DH> acc(acc_s + r * dm.D, g, dm.D);
  acc.zero();
  const int64_t kend = key_end(a, i0, kRows);
  for (int64_t j0 = 0; j0 < kend; j0 += kCols) {
    stage_kv(ks, ldq, vs, ldv, k, v, a, bh, j0, dm.D, dm.Dv);
    EMBER_UNROLL
    for (int c = 0; c < kColsPerLane; ++c) {
      const int jj = g + kGroup * c;
      const int64_t j = j0 + jj;
      T dsv = 0;
      if (sc.live(i, j)) {
        const T p = d_exp(sc.score(dot(qs + r * ldq, ks + jj * ldq, dm.D), i, j) - lse_i);
        dsv = p * (sc.drop(dot(dos + r * ldv, vs + jj * ldv, dm.Dv), i, j) - delta_i);
      }
      ds[r * kTileLd + jj] = dsv;
    }
    __syncwarp();
    accumulate(acc, ds + r * kTileLd, ks, ldq, g, dm.D);
  }
  if (i < a.Tq) {
    const T scale = static_cast<T>(a.scale);
    for (int c = 0; c < acc.count(); ++c) {
      const int d = g + kGroup * c;
      if (d < dm.D) dq[(bh * a.Tq + i) * dm.D + d] = acc[c] * scale;
    }
  }
}

// ---- launchers -------------------------------------------------------------------------

// Shared bytes of each kernel (the general path adds its accumulators).
size_t fwd_shared(const AttentionArgs& a, size_t F, bool general) {
  const size_t ldq = a.D + 1, ldv = a.Dv + 1;
  return F *
         (kRows * ldq + kCols * ldq + kCols * ldv + kRows * kTileLd + (general ? kRows * a.Dv : 0));
}
size_t dkdv_shared(const AttentionArgs& a, size_t F, bool general) {
  const size_t ldk = a.D + 1, ldv = a.Dv + 1;
  return F * (kRows * ldk + kRows * ldv + kCols * ldk + kCols * ldv + 2 * kRows * kTileLd +
              2 * kCols + (general ? kRows * (a.D + a.Dv) : 0));
}
size_t dq_shared(const AttentionArgs& a, size_t F, bool general) {
  const size_t ldq = a.D + 1, ldv = a.Dv + 1;
  return F * (kRows * ldq + kRows * ldv + kCols * ldq + kCols * ldv + kRows * kTileLd +
              (general ? kRows * a.D : 0));
}

dim3 grid_of(const AttentionArgs& a, int64_t rows) {
  return dim3(static_cast<unsigned>(a.B * a.H), static_cast<unsigned>((rows + kRows - 1) / kRows));
}

// The tensor-core version serves f32 attention when it is switched on, the head dims are
// equal and compile-time ones, and the GPU has bf16 tensor cores (sm_80+; sim says 9.0).
bool use_bf16(DType dtype, const AttentionArgs& a) {
  return dtype == DType::f32 && backends::cuda::attention == backends::AttentionPath::bf16 &&
         head_dim_of(a) != 0 && rt::props().major >= 8;
}

template <typename T, int DH>
void forward_dh(const AttentionArgs& a, T* out, T* lse, const T* q, const T* k, const T* v,
                const T* mask) {
  const LaunchConfig cfg{"attention_fwd", grid_of(a, a.Tq), dim3(kThreads),
                         fwd_shared(a, sizeof(T), DH == 0)};
  check_shared(cfg.name, a, cfg.shared_bytes);
  launch(cfg, &attention_fwd<T, DH>, out, lse, q, k, v, mask, a);
}

template <typename T, int DH>
void backward_dh(const AttentionArgs& a, T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k,
                 const T* v, const T* lse, const T* delta, const T* mask) {
  const LaunchConfig kv{"attention_bwd_dkdv", grid_of(a, a.Tk), dim3(kThreads),
                        dkdv_shared(a, sizeof(T), DH == 0)};
  check_shared(kv.name, a, kv.shared_bytes);
  launch(kv, &attention_bwd_dkdv<T, DH>, dk, dv, dout, q, k, v, lse, delta, mask, a);
  const LaunchConfig qc{"attention_bwd_dq", grid_of(a, a.Tq), dim3(kThreads),
                        dq_shared(a, sizeof(T), DH == 0)};
  check_shared(qc.name, a, qc.shared_bytes);
  launch(qc, &attention_bwd_dq<T, DH>, dq, dout, q, k, v, lse, delta, mask, a);
}

// Device memory freed however the launches that use it end.
struct FreeDevice {
  void operator()(void* p) const { rt::deallocate(p); }
};
template <typename T>
using DeviceScratch = std::unique_ptr<T, FreeDevice>;

// The backward's first kernel, for both versions: delta (B, H, Tq) in opmath_t<S> (f32 for
// bf16/f16 tensors).
template <typename S, typename T = opmath_t<S>>
DeviceScratch<T> delta_of(const AttentionArgs& a, const S* dout, const S* out) {
  const int64_t rows = a.B * a.H * a.Tq;
  DeviceScratch<T> delta(static_cast<T*>(rt::allocate(static_cast<size_t>(rows) * sizeof(T))));
  const LaunchConfig dc{"attention_delta",
                        dim3(static_cast<unsigned>((rows + kThreads / 32 - 1) / (kThreads / 32))),
                        dim3(kThreads)};
  launch(dc, &attention_delta<S>, delta.get(), dout, out, rows, a.Dv);
  return delta;
}

template <typename T>
void forward(const AttentionArgs& a, T* out, T* lse, const T* q, const T* k, const T* v,
             const T* mask) {
  if constexpr (std::is_same_v<T, float>) {
    if (use_bf16(DType::f32, a))
      return launch_attention_wmma_forward(DType::f32, a, out, lse, q, k, v, mask);
  }
  switch (head_dim_of(a)) {
    case 32: return forward_dh<T, 32>(a, out, lse, q, k, v, mask);
    case 64: return forward_dh<T, 64>(a, out, lse, q, k, v, mask);
    case 128: return forward_dh<T, 128>(a, out, lse, q, k, v, mask);
    default: return forward_dh<T, 0>(a, out, lse, q, k, v, mask);
  }
}

template <typename T>
void backward(const AttentionArgs& a, T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k,
              const T* v, const T* out, const T* lse, const T* mask) {
  const DeviceScratch<T> scratch = delta_of(a, dout, out);
  const T* delta = scratch.get();
  if constexpr (std::is_same_v<T, float>) {
    if (use_bf16(DType::f32, a))
      return launch_attention_wmma_backward(DType::f32, a, dq, dk, dv, dout, q, k, v, lse, delta,
                                            mask);
  }
  switch (head_dim_of(a)) {
    case 32: return backward_dh<T, 32>(a, dq, dk, dv, dout, q, k, v, lse, delta, mask);
    case 64: return backward_dh<T, 64>(a, dq, dk, dv, dout, q, k, v, lse, delta, mask);
    case 128: return backward_dh<T, 128>(a, dq, dk, dv, dout, q, k, v, lse, delta, mask);
    default: return backward_dh<T, 0>(a, dq, dk, dv, dout, q, k, v, lse, delta, mask);
  }
}

// bf16/f16 tensors (issue 16): the tensor-core version, after the delta of G = their type.
template <typename G>
void backward_half(DType dtype, const AttentionArgs& a, void* dq, void* dk, void* dv,
                   const void* dout, const void* q, const void* k, const void* v, const void* out,
                   const void* lse, const void* mask) {
  const DeviceScratch<float> delta =
      delta_of(a, static_cast<const G*>(dout), static_cast<const G*>(out));
  launch_attention_wmma_backward(dtype, a, dq, dk, dv, dout, q, k, v,
                                 static_cast<const float*>(lse), delta.get(), mask);
}

}  // namespace

void launch_attention_forward(DType dtype, const AttentionArgs& a, void* out, void* lse,
                              const void* q, const void* k, const void* v, const void* mask) {
  switch (dtype) {
    case DType::f32:
      return forward(a, static_cast<float*>(out), static_cast<float*>(lse),
                     static_cast<const float*>(q), static_cast<const float*>(k),
                     static_cast<const float*>(v), static_cast<const float*>(mask));
    case DType::f64:
      return forward(a, static_cast<double*>(out), static_cast<double*>(lse),
                     static_cast<const double*>(q), static_cast<const double*>(k),
                     static_cast<const double*>(v), static_cast<const double*>(mask));
    case DType::bf16:
    case DType::f16:
      if (!attention_half_fast_path(a))
        fail<InternalError>("attention", "no ", dtype, " kernel for head dims ", a.D, " and ", a.Dv,
                            " (the backend widens them to f32)");
      return launch_attention_wmma_forward(dtype, a, out, static_cast<float*>(lse), q, k, v, mask);
    default: fail<InternalError>("attention", "no kernel for ", dtype);
  }
}

void launch_attention_backward(DType dtype, const AttentionArgs& a, void* dq, void* dk, void* dv,
                               const void* dout, const void* q, const void* k, const void* v,
                               const void* out, const void* lse, const void* mask) {
  switch (dtype) {
    case DType::f32:
      return backward(a, static_cast<float*>(dq), static_cast<float*>(dk), static_cast<float*>(dv),
                      static_cast<const float*>(dout), static_cast<const float*>(q),
                      static_cast<const float*>(k), static_cast<const float*>(v),
                      static_cast<const float*>(out), static_cast<const float*>(lse),
                      static_cast<const float*>(mask));
    case DType::f64:
      return backward(a, static_cast<double*>(dq), static_cast<double*>(dk),
                      static_cast<double*>(dv), static_cast<const double*>(dout),
                      static_cast<const double*>(q), static_cast<const double*>(k),
                      static_cast<const double*>(v), static_cast<const double*>(out),
                      static_cast<const double*>(lse), static_cast<const double*>(mask));
    case DType::bf16:
    case DType::f16:
      if (!attention_half_fast_path(a))
        fail<InternalError>("attention_backward", "no ", dtype, " kernel for head dims ", a.D,
                            " and ", a.Dv, " (the backend widens them to f32)");
      if (dtype == DType::bf16)
        return backward_half<ember::bf16>(dtype, a, dq, dk, dv, dout, q, k, v, out, lse, mask);
      return backward_half<ember::f16>(dtype, a, dq, dk, dv, dout, q, k, v, out, lse, mask);
    default: fail<InternalError>("attention_backward", "no kernel for ", dtype);
  }
}

}  // namespace ember::EMBER_VARIANT
