// How conv2d's implicit GEMMs (kernels/cuda/conv2d.cu) gather their operands: the
// launch geometry, and per primitive an Ops struct whose start() decodes the coordinates
// that stay fixed for a thread, load_a/load_b gather its elements of one Kd step of the
// A and B tiles, and store() writes one element of C. Included by conv2d.cu only.
#pragma once

#include <cstdint>

#include "kernels/cuda/fast_div.h"
#include "kernels/cuda/target.h"
#include "tensor/half.h"

namespace ember::EMBER_VARIANT::conv2d_detail {

constexpr int kThreads = 256;
constexpr int kBM = 64, kBN = 64, kBK = 16;
constexpr int kPad = 4;                       // row padding: WMMA wants ldm % 4 == 0
constexpr int kLoads = kBM * kBK / kThreads;  // 4 elements of each tile per thread
constexpr int kRowStep = kThreads / kBK;      // 16: rows between a thread's A elements
constexpr int kKStep = kThreads / kBN;        // 4: k rows between a thread's B elements

struct ConvGeom {
  int N, C, H, W, K, R, S, P, Q, G, Cg, Kg;
  int sh, sw, ph, pw, dh, dw;
  int HW, PQ, RS, CgRS;
  int M, Ng, Kd;  // the GEMM of one group
  int splits, steps_per_split;
  FastDiv div_W, div_PQ, div_Q, div_RS, div_S, div_sh, div_sw;
};

EMBER_DEVICE bool inside(int i, int n) {
  return static_cast<unsigned>(i) < static_cast<unsigned>(n);
}

// (c, r, s) of a filter-tap index c RS + r S + s; returns c.
EMBER_DEVICE int decode_crs(const ConvGeom& g, int i, int* r, int* s) {
  int rs;
  const int c = g.div_RS.divmod(i, &rs);
  *r = g.div_S.divmod(rs, s);
  return c;
}

// The 4 rows of the A tile one thread gathers (m = m0 + tid / 16 + 16 e): where each
// row starts in memory, and whether it exists (m < M).
struct ARows {
  int64_t base[kLoads];
  bool ok[kLoads];

  template <typename RowBase>
  EMBER_DEVICE void init(int m0, int tid, int M, RowBase row_base) {
    EMBER_UNROLL
    for (int e = 0; e < kLoads; ++e) {
      const int m = m0 + tid / kBK + e * kRowStep;
      ok[e] = m < M;
      base[e] = row_base(m);
    }
  }
  // r[e] = p[base[e] + off] where the row exists and the column is valid, else 0 (a
  // bf16/f16 element read into the f32 register: S is the tensor's type, T the math's).
  template <typename S, typename T>
  EMBER_DEVICE void gather(const S* p, bool column_ok, int64_t off, T (&r)[kLoads]) const {
    EMBER_UNROLL
    for (int e = 0; e < kLoads; ++e)
      r[e] = (ok[e] && column_ok) ? static_cast<T>(p[base[e] + off]) : T(0);
  }
};

// What one z of the grid computes: a group, a part (a split of Kd in backward-weight, an
// output phase in backward-input), the columns of C it has, and its steps of Kd.
struct Slot {
  int grp, part;
  int Ng;      // columns of C
  int s0, s1;  // steps [s0, s1) of kBK each
};

// z = part G + grp; steps_per_part 0: all of Kd's steps in one part.
EMBER_DEVICE Slot slot_of(int z, int G, int Ng, int Kd, int steps_per_part) {
  Slot s;
  s.grp = z % G, s.part = z / G, s.Ng = Ng;
  const int steps = (Kd + kBK - 1) / kBK;
  s.s0 = steps_per_part > 0 ? s.part * steps_per_part : 0;
  s.s1 = steps_per_part > 0 && s.s0 + steps_per_part < steps ? s.s0 + steps_per_part : steps;
  return s;
}

// ---- the operands of each primitive: start() decodes what stays fixed for a thread,
// load_a/load_b gather its elements of one Kd step, store() writes one output. ----------

// forward: C = out_g (Kg, N PQ), A = w_g (Kg, CgRS), B = im2col(x_g) (CgRS, N PQ).
// Each Ops<S> reads tensors of S and computes in Scalar = opmath_t<S> (f32 for bf16/f16:
// the tiles and the accumulators are f32, the store rounds once).
template <typename S>
struct ForwardOps {
  using Scalar = opmath_t<S>;
  using T = Scalar;
  static constexpr bool kBKFastest = false;  // B tile loaded along Ng: x is contiguous in q
  ConvGeom g;
  S* out;         // (N, K, P, Q)
  const S* x;     // (N, C, H, W)
  const S* w;     // (K, Cg, R, S)
  const S* bias;  // (K) or null

  struct State : Slot {
    int ka, kb;
    ARows a;
    bool b_ok;
    int h0, v0;
    int64_t b_base;
  };

  EMBER_DEVICE int z_count() const { return g.G; }
  EMBER_DEVICE State start(int z, int m0, int n0, int tid) const {
    State s{};
    static_cast<Slot&>(s) = slot_of(z, g.G, g.Ng, g.Kd, 0);
    const int grp = s.grp;
    s.ka = tid % kBK, s.kb = tid / kBN;
    s.a.init(m0, tid, g.M, [&](int m) { return static_cast<int64_t>(grp * g.Kg + m) * g.Kd; });
    const int j = n0 + tid % kBN;
    s.b_ok = j < g.Ng;
    int pq, q;
    const int n = g.div_PQ.divmod(s.b_ok ? j : 0, &pq);
    const int p = g.div_Q.divmod(pq, &q);
    s.h0 = p * g.sh - g.ph, s.v0 = q * g.sw - g.pw;
    s.b_base = (static_cast<int64_t>(n) * g.C + static_cast<int64_t>(grp) * g.Cg) * g.HW;
    return s;
  }
  EMBER_DEVICE void load_a(const State& s, int k0, T (&r)[kLoads]) const {
    const int kk = k0 + s.ka;
    s.a.gather(w, kk < g.Kd, kk, r);
  }
  EMBER_DEVICE void load_b(const State& s, int k0, T (&r)[kLoads]) const {
    EMBER_UNROLL
    for (int e = 0; e < kLoads; ++e) {
      const int kk = k0 + s.kb + e * kKStep;
      T v = T(0);
      if (s.b_ok && kk < g.Kd) {
        int r_, sx;
        const int c = decode_crs(g, kk, &r_, &sx);
        const int h = s.h0 + r_ * g.dh, vv = s.v0 + sx * g.dw;
        if (inside(h, g.H) && inside(vv, g.W))
          v = static_cast<T>(x[s.b_base + static_cast<int64_t>(c) * g.HW + h * g.W + vv]);
      }
      r[e] = v;
    }
  }
  EMBER_DEVICE void store(const State& s, int m, int j, T v) const {
    int pq;
    const int n = g.div_PQ.divmod(j, &pq);
    const int k = s.grp * g.Kg + m;
    out[(static_cast<int64_t>(n) * g.K + k) * g.PQ + pq] =
        S(bias != nullptr ? v + static_cast<T>(bias[k]) : v);
  }
};

// backward-input, one output phase (ah, aw) at a time: the pixels h = ah + sh i,
// v = aw + sw j of grad_x receive only the taps r with (ah + ph - r dh) % sh == 0 (and
// likewise s), so each phase is a GEMM over just those taps and a stride multiplies no
// zeros: C = grad_x_g at the phase (Cg, N Hh Wh), A = w_g^T at the taps (Cg, Kg nr ns),
// B (Kg nr ns, N Hh Wh) from grad_out at p = (h + ph - r dh) / sh.
constexpr int kMaxPhases = 16;  // phases per launch (sh sw in all)

struct Phase {
  int ah, aw;                                  // the phase: h % sh, v % sw
  int Hh, Wh;                                  // its rows and columns of grad_x
  int r0, rstep, nr;                           // its taps r = r0 + rstep i, i < nr
  int q0, qstep, nq;                           // and s = q0 + qstep j, j < nq
  FastDiv div_HhWh, div_Wh, div_taps, div_nq;  // taps = nr nq (1 when there are none)
};

template <typename S>
struct BackwardInputOps {
  using Scalar = opmath_t<S>;
  using T = Scalar;
  static constexpr bool kBKFastest = false;  // B tile loaded along Ng: grad_x is contiguous in v
  ConvGeom g;
  S* grad_x;          // (N, C, H, W)
  const S* grad_out;  // (N, K, P, Q)
  const S* w;         // (K, Cg, R, S)
  int phases;         // in this launch
  Phase ph[kMaxPhases];

  struct State : Slot {
    int ka, kb;
    ARows a;
    bool b_ok;
    int th, tv;  // h + ph, v + pw of this thread's column
    int64_t b_base;
  };

  EMBER_DEVICE int z_count() const { return g.G * phases; }
  // The taps of Kd index kk of phase f: k, and the filter offset r S + s.
  EMBER_DEVICE int decode_tap(const Phase& f, int kk, int* r, int* s) const {
    int t, j;
    const int k = f.div_taps.divmod(kk, &t);
    const int i = f.div_nq.divmod(t, &j);
    *r = f.r0 + i * f.rstep, *s = f.q0 + j * f.qstep;
    return k;
  }
  EMBER_DEVICE State start(int z, int m0, int n0, int tid) const {
    State s{};
    const Phase& f = ph[z / g.G];
    static_cast<Slot&>(s) = slot_of(z, g.G, g.N * f.Hh * f.Wh, g.Kg * f.nr * f.nq, 0);
    const int grp = s.grp;
    s.ka = tid % kBK, s.kb = tid / kBN;
    // row c starts at w[grp Kg, c, 0, 0]
    s.a.init(m0, tid, g.M,
             [&](int c) { return (static_cast<int64_t>(grp) * g.Kg * g.Cg + c) * g.RS; });
    const int j = n0 + tid % kBN;
    s.b_ok = j < s.Ng;
    int hw, v;
    const int n = f.div_HhWh.divmod(s.b_ok ? j : 0, &hw);
    const int h = f.div_Wh.divmod(hw, &v);
    s.th = f.ah + h * g.sh + g.ph, s.tv = f.aw + v * g.sw + g.pw;
    s.b_base = (static_cast<int64_t>(n) * g.K + static_cast<int64_t>(grp) * g.Kg) * g.PQ;
    return s;
  }
  EMBER_DEVICE void load_a(const State& s, int k0, T (&r)[kLoads]) const {
    const int kk = k0 + s.ka;
    const Phase& f = ph[s.part];
    const int kd = g.Kg * f.nr * f.nq;
    int r_, sx;
    const int k = decode_tap(f, kk < kd ? kk : 0, &r_, &sx);
    s.a.gather(w, kk < kd, static_cast<int64_t>(k) * g.CgRS + r_ * g.S + sx, r);
  }
  EMBER_DEVICE void load_b(const State& s, int k0, T (&r)[kLoads]) const {
    const Phase& f = ph[s.part];
    const int kd = g.Kg * f.nr * f.nq;
    EMBER_UNROLL
    for (int e = 0; e < kLoads; ++e) {
      const int kk = k0 + s.kb + e * kKStep;
      T v = T(0);
      if (s.b_ok && kk < kd) {
        int r_, sx;
        const int k = decode_tap(f, kk, &r_, &sx);
        const int t = s.th - r_ * g.dh, u = s.tv - sx * g.dw;  // multiples of sh and sw
        if (t >= 0 && u >= 0) {
          const int p = g.div_sh.div(t), q = g.div_sw.div(u);
          if (p < g.P && q < g.Q)
            v = static_cast<T>(grad_out[s.b_base + static_cast<int64_t>(k) * g.PQ + p * g.Q + q]);
        }
      }
      r[e] = v;
    }
  }
  EMBER_DEVICE void store(const State& s, int c, int j, T v) const {
    const Phase& f = ph[s.part];
    int hw, vv;
    const int n = f.div_HhWh.divmod(j, &hw);
    const int h = f.ah + f.div_Wh.divmod(hw, &vv) * g.sh, x = f.aw + vv * g.sw;
    grad_x[(static_cast<int64_t>(n) * g.C + static_cast<int64_t>(s.grp) * g.Cg + c) * g.HW +
           h * g.W + x] = S(v);
  }
};

// backward-weight: C = grad_w_g (Kg, CgRS), A = grad_out_g (Kg, N PQ), B = im2col(x_g)^T
// (N PQ, CgRS). With splits > 1, split z writes its partial sum to dst + z K CgRS.
// D: the destination's type (the f32 split workspace of bf16/f16, summed then rounded).
template <typename S, typename D = S>
struct BackwardWeightOps {
  using Scalar = opmath_t<S>;
  using T = Scalar;
  static constexpr bool kBKFastest = true;  // B tile loaded along Kd: x is contiguous in q
  ConvGeom g;
  D* dst;             // (splits, K, Cg, R, S): grad_w itself when splits == 1
  const S* grad_out;  // (N, K, P, Q)
  const S* x;         // (N, C, H, W)

  struct State : Slot {
    int ka;
    ARows a;
    int64_t b_off[kLoads];         // x[0, grp Cg + c, 0, 0] of each B column
    int b_r[kLoads], b_s[kLoads];  // r dh - ph and s dw - pw of each B column
    bool b_ok[kLoads];
  };

  EMBER_DEVICE int z_count() const { return g.G * g.splits; }
  EMBER_DEVICE State start(int z, int m0, int n0, int tid) const {
    State s{};
    static_cast<Slot&>(s) = slot_of(z, g.G, g.Ng, g.Kd, g.steps_per_split);
    const int grp = s.grp;
    s.ka = tid % kBK;
    s.a.init(m0, tid, g.M, [&](int k) { return static_cast<int64_t>(grp * g.Kg + k) * g.PQ; });
    EMBER_UNROLL
    for (int e = 0; e < kLoads; ++e) {
      const int j = n0 + tid / kBK + e * kRowStep;  // the B tile is loaded transposed: as A's rows
      s.b_ok[e] = j < g.Ng;
      int r_, sx;
      const int c = decode_crs(g, s.b_ok[e] ? j : 0, &r_, &sx);
      s.b_off[e] = (static_cast<int64_t>(grp) * g.Cg + c) * g.HW;
      s.b_r[e] = r_ * g.dh - g.ph, s.b_s[e] = sx * g.dw - g.pw;
    }
    return s;
  }
  EMBER_DEVICE void load_a(const State& s, int k0, T (&r)[kLoads]) const {
    const int kk = k0 + s.ka;
    int pq;
    const int n = g.div_PQ.divmod(kk, &pq);
    s.a.gather(grad_out, kk < g.Kd, static_cast<int64_t>(n) * g.K * g.PQ + pq, r);
  }
  EMBER_DEVICE void load_b(const State& s, int k0, T (&r)[kLoads]) const {
    const int kk = k0 + s.ka;
    int pq, q;
    const int n = g.div_PQ.divmod(kk, &pq);
    const int p = g.div_Q.divmod(pq, &q);
    const int hb = p * g.sh, vb = q * g.sw;
    const int64_t xb = static_cast<int64_t>(n) * g.C * g.HW;
    EMBER_UNROLL
    for (int e = 0; e < kLoads; ++e) {
      const int h = hb + s.b_r[e], v = vb + s.b_s[e];
      r[e] = (kk < g.Kd && s.b_ok[e] && inside(h, g.H) && inside(v, g.W))
                 ? static_cast<T>(x[xb + s.b_off[e] + h * g.W + v])
                 : T(0);
    }
  }
  EMBER_DEVICE void store(const State& s, int k, int j, T v) const {
    dst[(static_cast<int64_t>(s.part) * g.K + static_cast<int64_t>(s.grp) * g.Kg + k) * g.Ng + j] =
        D(v);
  }
};

}  // namespace ember::EMBER_VARIANT::conv2d_detail
