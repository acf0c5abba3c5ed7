// Fused attention of the cpu backend, FlashAttention-style: forward and backward.
//
// Math, per batch b and head h (S and P exist only one block at a time):
//   S = scale q k^T + mask (-inf above the diagonal when causal: key j > query i)
//   P = softmax_rows(S),  out = P v,  lse_i = log sum_j exp(S_ij)
// backward, with dout given and P recomputed as exp(S - lse):
//   delta_i = sum_d dout_id out_id,  dv = P^T dout,  dP = dout v^T,
//   dS = P o (dP - delta),  dq = scale dS k,  dk = scale dS^T q
// Dropout (p > 0): out = (P o Z) v with Z_ij = keep_ij / (1 - p) (keep from tensor/philox.h:
// philox::dropout_keep on the score's linear index), lse of the undropped scores; the
// backward regenerates Z: dv = (P o Z)^T dout, dS = P o (Z o dP - delta). delta = dout . out
// still equals rowsum(P o Z o dP), so the formulas keep their shape.
// Shapes: q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), out/dout (B, H, Tq, Dv),
// lse (B, H, Tq), mask additive, (B, H, Tq, Tk) expanded (stride 0 on broadcast dims, unit
// stride along keys) or absent; all contiguous except the mask.
//
// Work split:
//   forward:  OpenMP over (b, h, block of kBlockQ query rows), dynamic schedule (causal
//             blocks differ in cost). A task walks the keys in blocks of kBlockK with the
//             online softmax: running row max m and sum l, the output accumulator rescaled
//             by exp(m_old - m_new) whenever the max grows; S block = Q_i K_j^T and
//             O_i += P V_j are Eigen GEMMs on the calling thread.
//   backward: OpenMP over (b, h) when there are at least as many as threads: a task owns
//             dk, dv and dq of its (b, h) and walks query blocks, then key blocks, with
//             five GEMMs per block pair (S, dv, dP, dq, dk). With fewer (b, h) than threads
//             each (b, h) is split over threads by key range instead; every thread then
//             accumulates dq into its own (Tq, D) buffer and the buffers are summed.
//   Causal tasks skip key blocks entirely above the diagonal.
//   f32 without mask or dropout, D and Dv multiples of 8 (the GPT step, the bench row): the
//   register-blocked tiles of attention_f32.cpp run each block instead of Eigen (whose
//   packing cost more than the products at these sizes); forward tasks are then whole
//   heads (K^T packed once), and the backward walks key blocks outermost.
//
// Cost per call (F = sizeof(T), causal roughly halves the FLOPs):
//   FLOPs: forward 2 B H Tq Tk (D + Dv) + ~5 B H Tq Tk (scale, mask, max, exp, sum);
//          backward 2 B H Tq Tk (3 D + 2 Dv) + ~6 B H Tq Tk.
//   Bytes (minimum): forward F B H (Tq D + Tk D + Tk Dv + Tq Dv + Tq) + mask reads;
//          backward F B H (2 Tq D + 2 Tk D + 2 Tk Dv + 2 Tq Dv + Tq) + mask reads.
//   Scratch: per thread (kBlockQ x kBlockK) scores and dP, plus a (kBlockQ, Dv) accumulator;
//          the (Tq, Tk) matrix is never stored.
// Preconditions (checked by tensor/raw_nn.cpp): f32 or f64, B H Tq Tk > 0 (D, Dv may be 0).
// A row whose scores are all -inf gives NaN in out and -inf in lse, as softmax does.
#include <omp.h>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/attention_f32.h"
#include "kernels/cpu/attention_half.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/dense.h"
#include "tensor/philox.h"

namespace ember::cpu {

namespace {

using namespace dense;  // NOLINT: the kernels' shared helpers
template <typename T>
using RowArr = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>;

constexpr int64_t kBlockQ = 64;   // query rows per block
constexpr int64_t kBlockK = 256;  // keys per block
// Below this many multiply-adds (B H Tq Tk (D + Dv)) attention runs on one thread.
constexpr int64_t kParallelMacs = 1 << 16;

struct Geom {
  int64_t B, H, Tq, Tk, D, Dv;
  double scale;
  bool causal;
  bool dropout = false;
  bool fast_f32 = false;  // attention_f32.cpp's tiles take an f32 call of this shape
  uint64_t seed = 0, offset = 0, threshold = 0;
  double keep_scale = 1.0;            // 1 / (1 - p), 0 for p = 1
  int64_t ms0 = 0, ms1 = 0, ms2 = 0;  // mask strides along b, h, query (elements)

  int64_t bh() const { return B * H; }
  int64_t macs() const { return bh() * Tq * Tk * (D + Dv); }
  // Keys [0, end) that query rows [i0, i0 + bq) may attend to, at most kv_end.
  int64_t key_end(int64_t i0, int64_t bq, int64_t kv_end) const {
    return causal ? std::min(kv_end, i0 + bq) : kv_end;
  }
};

// Turns raw scores row[0, n) (keys j0 .. j0 + n) of query `i` into scale s + mask, and
// returns how many leading entries are not causally masked (the rest are left as is).
template <typename T>
int64_t prepare_row(const Geom& g, T* row, int64_t n, const T* mask_row, int64_t i, int64_t j0,
                    T scale) {
  const int64_t valid = g.causal ? std::clamp<int64_t>(i - j0 + 1, 0, n) : n;
  RowArr<T> s(row, valid);
  if (mask_row != nullptr) {
    s = s * scale + Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(mask_row + j0, valid);
  } else {
    s *= scale;
  }
  return valid;
}

// Dropout of row[0, n) (keys j0 .. j0 + n of query i of head bh): a dropped score becomes
// exactly 0, a kept one is scaled by 1 / (1 - p).
template <typename T>
void drop_row(const Geom& g, T* row, int64_t n, int64_t bh, int64_t i, int64_t j0) {
  const auto base = static_cast<uint64_t>((bh * g.Tq + i) * g.Tk + j0);
  const T keep_scale = static_cast<T>(g.keep_scale);
  for (int64_t c = 0; c < n; ++c)
    row[c] = philox::dropout_keep(g.seed, g.offset, base + static_cast<uint64_t>(c), g.threshold)
                 ? row[c] * keep_scale
                 : T(0);
}

// row[0, valid) = exp(row - shift), row[valid, n) = 0. With `flush`, results below the
// smallest normal number become 0: Eigen's vectorized exp clamps its argument, so a
// masked (-inf) score would otherwise keep a denormal weight instead of exactly 0.
template <typename T>
void exp_row(T* row, int64_t valid, int64_t n, T shift, bool flush) {
  RowArr<T> s(row, valid);
  s = (s - shift).exp();
  if (flush) {
    for (int64_t c = 0; c < valid; ++c)
      row[c] = row[c] < std::numeric_limits<T>::min() ? T(0) : row[c];
  }
  std::fill(row + valid, row + n, T(0));
}

// The f32 tiles (attention_f32.cpp) pack K^T once per call, so a task takes a whole head
// when there are at least 4 heads per thread, else an equal share of its query blocks.
void forward_f32(const Geom& g, const float* q, const float* k, const float* v, float* out,
                 float* lse) {
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool parallel = g.macs() >= kParallelMacs && threads > 1;
  const int64_t nqb = ceil_div(g.Tq, kBlockQ);
  const int64_t chunks =
      !parallel || g.bh() >= 4 * threads ? 1 : std::min(nqb, ceil_div(4 * threads, g.bh()));
  const int64_t rows = ceil_div(nqb, chunks) * kBlockQ, tasks = g.bh() * chunks;
  const auto scale = static_cast<float>(g.scale);
#pragma omp parallel for schedule(dynamic, 1) if (parallel && tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t bh = t / chunks, ia = (t % chunks) * rows, ib = std::min(g.Tq, ia + rows);
    if (ia >= ib) continue;
    attn_f32::forward_rows(q + bh * g.Tq * g.D, k + bh * g.Tk * g.D, v + bh * g.Tk * g.Dv,
                           out + bh * g.Tq * g.Dv, lse + bh * g.Tq, g.Tk, g.D, g.Dv, ia, ib, scale,
                           g.causal);
  }
}

template <typename T>
void forward(const Geom& g, const T* q, const T* k, const T* v, const T* mask, T* out, T* lse) {
  if constexpr (std::is_same_v<T, float>) {
    if (g.fast_f32) return forward_f32(g, q, k, v, out, lse);
  }
  const int64_t nqb = ceil_div(g.Tq, kBlockQ);
  const int64_t tasks = g.bh() * nqb;
  const int64_t bk_max = std::min(g.Tk, kBlockK);
  const T scale = static_cast<T>(g.scale);
  const T neg_inf = -std::numeric_limits<T>::infinity();
  const bool parallel =
      tasks > 1 && g.macs() >= kParallelMacs && omp_get_max_threads() > 1 && !omp_in_parallel();
#pragma omp parallel if (parallel)
  {
    auto s_buf = scratch<T>(kBlockQ * bk_max);  // (bq, bk) scores, then probabilities
    auto o_buf = scratch<T>(kBlockQ * g.Dv);    // (bq, Dv) unnormalized output
    T m[kBlockQ], l[kBlockQ];                   // running row max and sum of exp
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t bh = t / nqb, i0 = (t % nqb) * kBlockQ, bq = std::min(kBlockQ, g.Tq - i0);
      const int64_t b = bh / g.H, h = bh % g.H;
      const T* mb = mask != nullptr ? mask + b * g.ms0 + h * g.ms1 : nullptr;
      const auto qi = cmat<T>(q + (bh * g.Tq + i0) * g.D, bq, g.D, g.D);
      auto o = mat<T>(o_buf.get(), bq, g.Dv, g.Dv);
      o.setZero();
      std::fill_n(m, bq, neg_inf);
      std::fill_n(l, bq, T(0));
      const int64_t kend = g.key_end(i0, bq, g.Tk);
      for (int64_t j0 = 0; j0 < kend; j0 += bk_max) {
        const int64_t bk = std::min(bk_max, kend - j0);
        auto s = mat<T>(s_buf.get(), bq, bk, bk);
        s.noalias() = qi * cmat<T>(k + (bh * g.Tk + j0) * g.D, bk, g.D, g.D).transpose();
        for (int64_t r = 0; r < bq; ++r) {
          T* row = s_buf.get() + r * bk;
          const T* mrow = mb != nullptr ? mb + (i0 + r) * g.ms2 : nullptr;
          const int64_t valid = prepare_row(g, row, bk, mrow, i0 + r, j0, scale);
          const T mx =
              valid > 0 ? RowArr<T>(row, valid).template maxCoeff<Eigen::PropagateNaN>() : neg_inf;
          const T m_new = std::isnan(mx) ? mx : std::max(m[r], mx);
          if (m_new == neg_inf) {  // nothing to attend to yet in this row
            std::fill(row, row + bk, T(0));
            continue;
          }
          const T alpha = std::exp(m[r] - m_new);  // 0 on the first block with a finite max
          exp_row(row, valid, bk, m_new, mb != nullptr);
          l[r] = l[r] * alpha + RowArr<T>(row, bk).sum();
          if (alpha != T(1)) o.row(r) *= alpha;
          m[r] = m_new;
          if (g.dropout) drop_row(g, row, bk, bh, i0 + r, j0);
        }
        o.noalias() += s * cmat<T>(v + (bh * g.Tk + j0) * g.Dv, bk, g.Dv, g.Dv);
      }
      auto dst = mat<T>(out + (bh * g.Tq + i0) * g.Dv, bq, g.Dv, g.Dv);
      T* lse_rows = lse + bh * g.Tq + i0;
      for (int64_t r = 0; r < bq; ++r) {
        dst.row(r) = o.row(r) * (T(1) / l[r]);  // l = 0 (all masked): NaN, as softmax gives
        lse_rows[r] = m[r] + std::log(l[r]);
      }
    }
  }
}

// The backward of one (b, h) restricted to keys [ka, kb): writes dk and dv of those keys
// and adds their contribution to dq (Tq, D).
template <typename T>
struct Backward {
  const Geom& g;
  const T *q, *k, *v, *mask, *out, *lse, *gout;
  T *gk, *gv;

  void run(int64_t bh, int64_t ka, int64_t kb, T* dq, T* s_buf, T* dp_buf, T* delta) const {
    if constexpr (std::is_same_v<T, float>) {
      if (g.fast_f32) {
        return attn_f32::backward_range(
            q + bh * g.Tq * g.D, k + bh * g.Tk * g.D, v + bh * g.Tk * g.Dv, out + bh * g.Tq * g.Dv,
            lse + bh * g.Tq, gout + bh * g.Tq * g.Dv, dq, gk + bh * g.Tk * g.D,
            gv + bh * g.Tk * g.Dv, g.Tq, g.D, g.Dv, ka, kb, static_cast<float>(g.scale), g.causal);
      }
    }
    const int64_t bk_max = std::min(kb - ka, kBlockK);
    const T scale = static_cast<T>(g.scale);
    const int64_t b = bh / g.H, h = bh % g.H;
    const T* mb = mask != nullptr ? mask + b * g.ms0 + h * g.ms1 : nullptr;
    const T* kbh = k + bh * g.Tk * g.D;   // (Tk, D)
    const T* vbh = v + bh * g.Tk * g.Dv;  // (Tk, Dv)
    T* dkbh = gk + bh * g.Tk * g.D;       // (Tk, D)
    T* dvbh = gv + bh * g.Tk * g.Dv;      // (Tk, Dv)
    std::fill(dkbh + ka * g.D, dkbh + kb * g.D, T(0));
    std::fill(dvbh + ka * g.Dv, dvbh + kb * g.Dv, T(0));
    for (int64_t i0 = 0; i0 < g.Tq; i0 += kBlockQ) {
      const int64_t bq = std::min(kBlockQ, g.Tq - i0);
      const int64_t kend = g.key_end(i0, bq, kb);
      if (kend <= ka) continue;  // causal: these queries see none of the keys
      const int64_t row0 = bh * g.Tq + i0;
      const auto qi = cmat<T>(q + row0 * g.D, bq, g.D, g.D);
      const auto doi = cmat<T>(gout + row0 * g.Dv, bq, g.Dv, g.Dv);
      const auto oi = cmat<T>(out + row0 * g.Dv, bq, g.Dv, g.Dv);
      auto dqi = mat<T>(dq + i0 * g.D, bq, g.D, g.D);
      for (int64_t r = 0; r < bq; ++r) delta[r] = doi.row(r).dot(oi.row(r));
      for (int64_t j0 = ka; j0 < kend; j0 += bk_max) {
        const int64_t bk = std::min(bk_max, kend - j0);
        const auto kj = cmat<T>(kbh + j0 * g.D, bk, g.D, g.D);
        const auto vj = cmat<T>(vbh + j0 * g.Dv, bk, g.Dv, g.Dv);
        auto p = mat<T>(s_buf, bq, bk, bk);
        auto dp = mat<T>(dp_buf, bq, bk, bk);
        p.noalias() = qi * kj.transpose();
        for (int64_t r = 0; r < bq; ++r) {
          T* row = s_buf + r * bk;
          const T* mrow = mb != nullptr ? mb + (i0 + r) * g.ms2 : nullptr;
          const int64_t valid = prepare_row(g, row, bk, mrow, i0 + r, j0, scale);
          exp_row(row, valid, bk, lse[row0 + r], mb != nullptr && std::isfinite(lse[row0 + r]));
        }
        if (g.dropout) {  // dp holds P o Z for a moment
          dp = p;
          for (int64_t r = 0; r < bq; ++r) drop_row(g, dp_buf + r * bk, bk, bh, i0 + r, j0);
          mat<T>(dvbh + j0 * g.Dv, bk, g.Dv, g.Dv).noalias() += dp.transpose() * doi;
        } else {
          mat<T>(dvbh + j0 * g.Dv, bk, g.Dv, g.Dv).noalias() += p.transpose() * doi;
        }
        dp.noalias() = doi * vj.transpose();
        for (int64_t r = 0; r < bq; ++r) {
          if (g.dropout) drop_row(g, dp_buf + r * bk, bk, bh, i0 + r, j0);
          dp.row(r).array() = p.row(r).array() * (dp.row(r).array() - delta[r]) * scale;
        }
        dqi.noalias() += dp * kj;
        mat<T>(dkbh + j0 * g.D, bk, g.D, g.D).noalias() += dp.transpose() * qi;
      }
    }
  }
};

template <typename T>
void backward(const Geom& g, const Backward<T>& bw, T* gq) {
  const int64_t BH = g.bh();
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool big = g.macs() >= kParallelMacs && threads > 1;
  const int64_t bk_cap = std::min(g.Tk, kBlockK);
  if (!big || BH >= threads) {
#pragma omp parallel if (big && BH > 1)
    {
      auto s_buf = scratch<T>(kBlockQ * bk_cap);
      auto dp_buf = scratch<T>(kBlockQ * bk_cap);
      T delta[kBlockQ];
#pragma omp for schedule(dynamic, 1)
      for (int64_t bh = 0; bh < BH; ++bh) {
        T* dq = gq + bh * g.Tq * g.D;
        std::fill_n(dq, g.Tq * g.D, T(0));
        bw.run(bh, 0, g.Tk, dq, s_buf.get(), dp_buf.get(), delta);
      }
    }
    return;
  }
  // Few (b, h): split each one's keys over the threads, dq through per-thread buffers.
  const int64_t dq_size = g.Tq * g.D;
  auto dq_bufs = scratch<T>(threads * dq_size);
  for (int64_t bh = 0; bh < BH; ++bh) {
    int64_t team = 1;
#pragma omp parallel
    {
      const int64_t tid = omp_get_thread_num();
#pragma omp single
      team = omp_get_num_threads();
      const int64_t per = ceil_div(g.Tk, team);
      const int64_t ka = std::min(g.Tk, tid * per), kb = std::min(g.Tk, ka + per);
      T* dq = dq_bufs.get() + tid * dq_size;
      std::fill_n(dq, dq_size, T(0));
      if (kb > ka) {
        auto s_buf = scratch<T>(kBlockQ * bk_cap);
        auto dp_buf = scratch<T>(kBlockQ * bk_cap);
        T delta[kBlockQ];
        bw.run(bh, ka, kb, dq, s_buf.get(), dp_buf.get(), delta);
      }
#pragma omp barrier
      T* dst = gq + bh * dq_size;
#pragma omp for schedule(static)
      for (int64_t e = 0; e < dq_size; ++e) {
        T s = 0;
        for (int64_t t = 0; t < team; ++t) s += dq_bufs[static_cast<size_t>(t * dq_size + e)];
        dst[e] = s;
      }
    }
  }
}

Geom make_geom(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
               const AttentionParams& p) {
  Geom g{};
  g.B = q.size(0), g.H = q.size(1), g.Tq = q.size(2), g.D = q.size(3);
  g.Tk = k.size(2), g.Dv = v.size(3);
  g.scale = p.scale;
  g.causal = p.causal;
  if (p.dropout_p > 0.0) {
    g.dropout = true;
    g.seed = p.seed, g.offset = p.offset;
    g.threshold = philox::dropout_threshold(p.dropout_p);
    g.keep_scale = p.dropout_p < 1.0 ? 1.0 / (1.0 - p.dropout_p) : 0.0;
  }
  if (mask.defined()) {
    EMBER_CHECK(mask.dim() == 4 && (mask.stride(3) == 1 || g.Tk == 1), "attention mask ",
                str(mask.sizes()), " strides ", str(mask.strides()));
    g.ms0 = mask.stride(0), g.ms1 = mask.stride(1), g.ms2 = mask.stride(2);
  }
  g.fast_f32 = q.dtype() == DType::f32 && attn_f32::supported(g.D, g.Dv, mask.defined(), g.dropout);
  return g;
}

}  // namespace

void CpuBackend::attention_forward(const AttentionForwardArgs& a, const AttentionParams& p) {
  const FlushDenormals flush;
  if (is_half(a.q.dtype())) return attention_forward_half(*this, a, p);  // attention_half.cpp
  const Tensor &out = a.out, &lse = a.lse, &q = a.q, &k = a.k, &v = a.v, &mask = a.mask;
  const Geom g = make_geom(q, k, v, mask, p);
  dense::dispatch_floating(q, "attention", [&](auto tag) {
    using T = decltype(tag);
    forward<T>(g, dense::in_ptr<T>(q), dense::in_ptr<T>(k), dense::in_ptr<T>(v),
               dense::in_ptr<T>(mask), dense::out_ptr<T>(out), dense::out_ptr<T>(lse));
  });
}

void CpuBackend::attention_backward(const AttentionBackwardArgs& a, const AttentionParams& p) {
  const FlushDenormals flush;
  if (is_half(a.q.dtype())) return attention_backward_half(*this, a, p);
  const Tensor &grad_q = a.grad_q, &grad_k = a.grad_k, &grad_v = a.grad_v, &grad_out = a.grad_out;
  const Tensor &q = a.q, &k = a.k, &v = a.v, &out = a.out, &lse = a.lse, &mask = a.mask;
  const Geom g = make_geom(q, k, v, mask, p);
  dense::dispatch_floating(q, "attention", [&](auto tag) {
    using T = decltype(tag);
    Backward<T> bw{g,
                   dense::in_ptr<T>(q),
                   dense::in_ptr<T>(k),
                   dense::in_ptr<T>(v),
                   dense::in_ptr<T>(mask),
                   dense::in_ptr<T>(out),
                   dense::in_ptr<T>(lse),
                   dense::in_ptr<T>(grad_out),
                   dense::out_ptr<T>(grad_k),
                   dense::out_ptr<T>(grad_v)};
    backward<T>(g, bw, dense::out_ptr<T>(grad_q));
  });
}

}  // namespace ember::cpu
