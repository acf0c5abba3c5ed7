// Winograd F(4x4, 3x3) convolution of the cpu backend: forward and weight gradient, with the
// transforms vectorized along tile rows (the layout for images of 8 tiles a row or more;
// kernels/cpu/conv2d_winograd_channels.cpp has the other, and the choice).
// (The input gradient of a stride-1 3x3 convolution is a forward one of grad_out with the
// rotated, transposed filters: kernels/cpu/conv2d.cpp calls winograd_forward for it.)
//
// Math (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): the
// output is cut into 4x4 tiles; tile (ti, tj) reads the 6x6 input patch d at rows
// 4 ti - ph .. + 5 and columns 4 tj - pw .. + 5 (zero outside). With the 6x6 B^T, 6x3 G and
// 4x6 A^T of interpolation points 0, 1, -1, 2, -2 (written out in the transforms below):
//   forward:  U = G g G^T (per k, c), V = B^T d B (per c, tile); for each of the 36 positions
//             xi of a 6x6 tile, M_xi (Kg, tiles) = U_xi (Kg, Cg) @ V_xi (Cg, tiles);
//             y = A^T M A gives the 4x4 outputs of each (k, tile).
//   weight gradient, the adjoint in g: Z = A dy A^T (per k, tile, from its 4x4 grad_out),
//             S_xi (Kg, Cg) = sum over tiles of Z_xi @ V_xi^T, dg = G^T S G.
// The 36 GEMMs do 72 Kg Cg multiply-adds per 16 outputs where im2col does 9 per output:
// 2x fewer, for transforms that cost O(Cg + Kg) per tile. f32 results differ from a direct
// convolution by a few 1e-5 of the outputs' RMS (the transforms' coefficients reach 8).
//
// Work split: the tiles of all images (in order n, ti, tj) are cut into blocks whose V and M
// (36 (Cg + Kg) values per tile) fit in L2; OpenMP over (group, block), GEMMs on the
// calling thread (dense::gemm: ember's packed f32 GEMM when both channel counts reach 32,
// winograd::packed_pays, else Eigen's); the forward hands blocks out dynamically, the
// accumulating weight gradient statically (its sums must not depend on timing). Transforms
// work on runs of consecutive tiles of one tile row, vectorized along the run (rounded up
// to kLanes tiles, so no scalar remainder): six input rows are combined (B^T) as whole rows,
// then each tile's six columns are combined (B) with stride-4 loads into 36 contiguous
// vectors. The per-xi slices of V and M are padded by a cache line so the 36 streams do not
// share a cache set.
// The weight gradient accumulates one S (36 K Cg) per thread and sums them at the end.
//
// Cost per call (Tt = N ceil(P/4) ceil(Q/4) tiles, F = sizeof(T)):
//   FLOPs: GEMMs 72 G Kg Cg Tt; input transform ~250 C Tt; output transform ~150 K Tt.
//   Bytes: as the direct convolution (x, w and out once); V and M stay in L2.
// Preconditions: 3x3 kernel, stride 1, dilation 1, C = G Cg, K = G Kg, P, Q >= 1.
#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/winograd_shared.h"

#include <omp.h>

#include <algorithm>

namespace ember::cpu {

namespace {

using namespace dense;     // NOLINT: the kernels' shared helpers
using namespace winograd;  // NOLINT: what the two layouts share

// Blocks of tiles (kBlockBytes of V and M) are multiples of 16 tiles and at least 48:
// Eigen's float GEMM works on 48-row panels, and thinner products lose a third (the
// packed GEMM's 32-column panels divide 48 tiles in whole and half panels).
// The transforms run their vector loops over runs rounded up to this many tiles (the lanes
// of two vectors), writing the extra lanes into slack at the end of each row of V, M and Z:
// no scalar remainder loops on runs of ~15 tiles.
constexpr int64_t kLanes = 8;
int64_t lanes(int64_t len) { return ceil_div(len, kLanes) * kLanes; }

struct Tiles {
  int64_t TP, TQ, per_image, total;
  explicit Tiles(const WinogradConv& s)
      : TP((s.P() + 3) / 4), TQ((s.Q() + 3) / 4), per_image(TP * TQ), total(s.N * TP * TQ) {}
};

int64_t block_tiles(const Tiles& tl, int64_t Cg, int64_t Kg, size_t elem) {
  int64_t tb = kBlockBytes / (kXi * (Cg + Kg) * static_cast<int64_t>(elem));
  tb = std::max<int64_t>(48, tb / 16 * 16);
  return std::min(tb, tl.total);
}

// Calls fn(j, n, ti, tj, len) for each run of tiles [t0, t0 + nt) inside one tile row; j is
// the run's offset in the block.
template <typename Fn>
void for_each_run(const Tiles& tl, int64_t t0, int64_t nt, Fn&& fn) {
  for (int64_t t = t0; t < t0 + nt;) {
    const int64_t n = t / tl.per_image, rem = t % tl.per_image, ti = rem / tl.TQ, tj = rem % tl.TQ;
    const int64_t len = std::min(tl.TQ - tj, t0 + nt - t);
    fn(t - t0, n, ti, tj, len);
    t += len;
  }
}

// Per-thread buffers of the transforms, sized for the longest run (one tile row).
template <typename T>
struct RunScratch {
  explicit RunScratch(const Tiles& tl)
      : rows(scratch<T>(6 * (4 * lanes(tl.TQ) + 4))),
        comb(scratch<T>(6 * (4 * lanes(tl.TQ) + 4))) {}
  ScratchPtr<T> rows;  // input or grad_out rows of a run; an output row
  ScratchPtr<T> comb;  // rows combined by B^T or A; A^T M
};

// V[xi][0, len) = (B^T d B)[xi] of the run's tiles for one input channel xc (H, W); v points
// at V[0][c][j], consecutive xi are xs apart. Tile m reads columns 4 m .. 4 m + 5 of the run.
template <typename T>
void input_run(const WinogradConv& s, const T* xc, int64_t ti, int64_t tj0, int64_t len,
               RunScratch<T>& b, T* v, int64_t xs) {
  const int64_t lv = lanes(len), w = 4 * lv + 4, col0 = 4 * tj0 - s.pw;
  const int64_t lo = std::clamp<int64_t>(-col0, 0, w), hi = std::clamp<int64_t>(s.W - col0, lo, w);
  T* rows = b.rows.get();  // (6, w): the input rows, zero outside x
  for (int64_t r = 0; r < 6; ++r) {
    T* row = rows + r * w;
    const int64_t h = 4 * ti - s.ph + r;
    if (h < 0 || h >= s.H) {
      std::fill_n(row, w, T(0));
      continue;
    }
    const T* src = xc + h * s.W + col0;
    for (int64_t u = 0; u < lo; ++u) row[u] = T(0);
#pragma omp simd
    for (int64_t u = lo; u < hi; ++u) row[u] = src[u];
    for (int64_t u = hi; u < w; ++u) row[u] = T(0);
  }
  T* e = b.comb.get();  // (6, w): B^T over rows
  const T *d0 = rows, *d1 = rows + w, *d2 = rows + 2 * w, *d3 = rows + 3 * w, *d4 = rows + 4 * w,
          *d5 = rows + 5 * w;
  T *e0 = e, *e1 = e + w, *e2 = e + 2 * w, *e3 = e + 3 * w, *e4 = e + 4 * w, *e5 = e + 5 * w;
#pragma omp simd
  for (int64_t u = 0; u < w; ++u) {
    e0[u] = 4 * d0[u] - 5 * d2[u] + d4[u];
    e1[u] = d3[u] + d4[u] - 4 * (d1[u] + d2[u]);
    e2[u] = d4[u] - d3[u] + 4 * (d1[u] - d2[u]);
    e3[u] = d4[u] - d2[u] + 2 * (d3[u] - d1[u]);
    e4[u] = d4[u] - d2[u] + 2 * (d1[u] - d3[u]);
    e5[u] = 4 * d1[u] - 5 * d3[u] + d5[u];
  }
  for (int64_t a = 0; a < 6; ++a) {  // B over columns
    const T* ea = e + a * w;
    T *v0 = v + (6 * a) * xs, *v1 = v0 + xs, *v2 = v1 + xs, *v3 = v2 + xs, *v4 = v3 + xs,
      *v5 = v4 + xs;
#pragma omp simd
    for (int64_t m = 0; m < lv; ++m) {
      const T c0 = ea[4 * m], c1 = ea[4 * m + 1], c2 = ea[4 * m + 2], c3 = ea[4 * m + 3],
              c4 = ea[4 * m + 4], c5 = ea[4 * m + 5];
      v0[m] = 4 * c0 - 5 * c2 + c4;
      v1[m] = c3 + c4 - 4 * (c1 + c2);
      v2[m] = c4 - c3 + 4 * (c1 - c2);
      v3[m] = c4 - c2 + 2 * (c3 - c1);
      v4[m] = c4 - c2 + 2 * (c1 - c3);
      v5[m] = 4 * c1 - 5 * c3 + c5;
    }
  }
}

// Asks for the input rows that input_run reads from channel plane xc. A run reads six row
// pieces of a plane, then moves to the next channel, 1 plane further on: no pattern the
// hardware prefetcher follows, so each piece's first touch waited on memory: at 56x56 on a
// Zen 5 the copy of those rows was a third of the input transforms' time, 8% with the next
// channel asked for ahead (64->64 fwd+bwd 4% less time on 2 threads).
// Always inlined: a prefetch has no side effects, so GCC deletes calls to a function made
// of nothing else.
template <typename T>
[[gnu::always_inline]] inline void prefetch_run(const WinogradConv& s, const T* xc, int64_t ti,
                                                int64_t tj0, int64_t len) {
  const int64_t u0 = std::max<int64_t>(0, 4 * tj0 - s.pw);
  const int64_t u1 = std::min<int64_t>(s.W, 4 * (tj0 + len) + 2 - s.pw);
  if (u1 <= u0) return;
  for (int64_t r = 0; r < 6; ++r) {
    const int64_t h = 4 * ti - s.ph + r;
    if (h < 0 || h >= s.H) continue;
    const T* row = xc + h * s.W;
    for (int64_t u = u0; u < u1; u += 64 / static_cast<int64_t>(sizeof(T)))
      __builtin_prefetch(row + u);
    __builtin_prefetch(row + u1 - 1);
  }
}

// Output rows 4 ti .. 4 ti + 3 of channel plane ok (P, Q) = A^T M A + bias for the run's
// tiles; mk points at M[0][k][j], consecutive xi are xs apart.
template <typename T>
void output_run(const WinogradConv& s, const T* mk, int64_t xs, T bias, T* ok, int64_t ti,
                int64_t tj0, int64_t len, RunScratch<T>& b) {
  const int64_t lv = lanes(len);
  T* t = b.comb.get();  // (4, 6, lv): A^T M
  for (int64_t c = 0; c < 6; ++c) {
    const T *m0 = mk + c * xs, *m1 = m0 + 6 * xs, *m2 = m1 + 6 * xs, *m3 = m2 + 6 * xs,
            *m4 = m3 + 6 * xs, *m5 = m4 + 6 * xs;
    T *t0 = t + c * lv, *t1 = t0 + 6 * lv, *t2 = t1 + 6 * lv, *t3 = t2 + 6 * lv;
#pragma omp simd
    for (int64_t m = 0; m < lv; ++m) {
      const T s12 = m1[m] + m2[m], d12 = m1[m] - m2[m], s34 = m3[m] + m4[m], d34 = m3[m] - m4[m];
      t0[m] = m0[m] + s12 + s34;
      t1[m] = d12 + 2 * d34;
      t2[m] = s12 + 4 * s34;
      t3[m] = d12 + 8 * d34 + m5[m];
    }
  }
  const int64_t P = s.P(), Q = s.Q(), q0 = 4 * tj0, ncols = std::min(4 * len, Q - q0);
  T* row = b.rows.get();
  for (int64_t r = 0; r < 4 && 4 * ti + r < P; ++r) {
    const T *a0 = t + (6 * r) * lv, *a1 = a0 + lv, *a2 = a1 + lv, *a3 = a2 + lv, *a4 = a3 + lv,
            *a5 = a4 + lv;
#pragma omp simd
    for (int64_t m = 0; m < lv; ++m) {
      const T s12 = a1[m] + a2[m], d12 = a1[m] - a2[m], s34 = a3[m] + a4[m], d34 = a3[m] - a4[m];
      row[4 * m] = a0[m] + s12 + s34 + bias;
      row[4 * m + 1] = d12 + 2 * d34 + bias;
      row[4 * m + 2] = s12 + 4 * s34 + bias;
      row[4 * m + 3] = d12 + 8 * d34 + a5[m] + bias;
    }
    T* dst = ok + (4 * ti + r) * Q + q0;
#pragma omp simd
    for (int64_t u = 0; u < ncols; ++u) dst[u] = row[u];
  }
}

// Z[xi][0, len) = (A dy A^T)[xi] of the run's 4x4 grad_out tiles of channel plane gk (P, Q).
template <typename T>
void grad_run(const WinogradConv& s, const T* gk, int64_t ti, int64_t tj0, int64_t len,
              RunScratch<T>& b, T* z, int64_t xs) {
  const int64_t P = s.P(), Q = s.Q(), lv = lanes(len), w = 4 * lv, q0 = 4 * tj0;
  const int64_t ncols = std::min(4 * len, Q - q0);
  T* rows = b.rows.get();  // (4, w): the grad_out rows, zero outside
  for (int64_t r = 0; r < 4; ++r) {
    T* row = rows + r * w;
    const int64_t p = 4 * ti + r;
    if (p >= P) {
      std::fill_n(row, w, T(0));
      continue;
    }
    const T* src = gk + p * Q + q0;
#pragma omp simd
    for (int64_t u = 0; u < ncols; ++u) row[u] = src[u];
    for (int64_t u = ncols; u < w; ++u) row[u] = T(0);
  }
  T* e = b.comb.get();  // (6, w): A over rows
  const T *g0 = rows, *g1 = rows + w, *g2 = rows + 2 * w, *g3 = rows + 3 * w;
  T *e0 = e, *e1 = e + w, *e2 = e + 2 * w, *e3 = e + 3 * w, *e4 = e + 4 * w, *e5 = e + 5 * w;
#pragma omp simd
  for (int64_t u = 0; u < w; ++u) {
    const T s02 = g0[u] + g2[u], d13 = g1[u] + g3[u];
    e0[u] = g0[u];
    e1[u] = s02 + d13;
    e2[u] = s02 - d13;
    e3[u] = g0[u] + 4 * g2[u] + 2 * (g1[u] + 4 * g3[u]);
    e4[u] = g0[u] + 4 * g2[u] - 2 * (g1[u] + 4 * g3[u]);
    e5[u] = g3[u];
  }
  for (int64_t a = 0; a < 6; ++a) {  // A over columns
    const T* ea = e + a * w;
    T *z0 = z + (6 * a) * xs, *z1 = z0 + xs, *z2 = z1 + xs, *z3 = z2 + xs, *z4 = z3 + xs,
      *z5 = z4 + xs;
#pragma omp simd
    for (int64_t m = 0; m < lv; ++m) {
      const T c0 = ea[4 * m], c1 = ea[4 * m + 1], c2 = ea[4 * m + 2], c3 = ea[4 * m + 3];
      const T s02 = c0 + c2, s13 = c1 + c3;
      z0[m] = c0;
      z1[m] = s02 + s13;
      z2[m] = s02 - s13;
      z3[m] = c0 + 4 * c2 + 2 * (c1 + 4 * c3);
      z4[m] = c0 + 4 * c2 - 2 * (c1 + 4 * c3);
      z5[m] = c3;
    }
  }
}

bool go_parallel(const WinogradConv& s, const Tiles& tl, int64_t tasks) {
  const int64_t macs = kXi * tl.total * (s.K / s.G) * s.C;
  return tasks > 1 && macs >= kParallelMacs && omp_get_max_threads() > 1 && !omp_in_parallel();
}

// Scratch whose slack lanes (read by the transforms, never written by the GEMMs) hold zeros.
template <typename T>
ScratchPtr<T> zeroed_scratch(int64_t n) {
  auto p = scratch<T>(n);
  std::fill_n(p.get(), n, T(0));
  return p;
}

// How a call splits its tiles: blocks of tb tiles, one task per (group, block). A block's V
// is (36, Cg, ld) and its M or Z (36, Kg, ld): rows of ld = tb + kLanes (the slack the
// transforms' rounded-up runs write into), and each xi slice padded by a cache line, since
// the transforms write 36 streams at once, which must not fall into one cache set.
struct Plan {
  Plan(const WinogradConv& s, size_t elem)
      : Cg(s.C / s.G),
        Kg(s.K / s.G),
        tl(s),
        tb(block_tiles(tl, Cg, Kg, elem)),
        nblocks(ceil_div(tl.total, tb)),
        tasks(s.G * nblocks),
        ld(tb + kLanes),
        vs(Cg * ld + kPad),
        ms(Kg * ld + kPad) {}
  int64_t Cg, Kg;
  Tiles tl;
  int64_t tb, nblocks, tasks, ld, vs, ms;
  int64_t group(int64_t task) const { return task / nblocks; }
  int64_t first(int64_t task) const { return (task % nblocks) * tb; }
  int64_t count(int64_t task) const { return std::min(tb, tl.total - first(task)); }
};

// V (36, Cg, nt) of tiles [t0, t0 + nt) of group g.
template <typename T>
void transform_inputs(const WinogradConv& s, const Plan& pl, const T* x, int64_t g, int64_t t0,
                      int64_t nt, RunScratch<T>& rs, T* V) {
  for_each_run(pl.tl, t0, nt, [&](int64_t j, int64_t n, int64_t ti, int64_t tj, int64_t len) {
    const T* xg = x + (n * s.C + g * pl.Cg) * s.H * s.W;  // (Cg, H, W)
    prefetch_run(s, xg, ti, tj, len);
    for (int64_t c = 0; c < pl.Cg; ++c) {
      if (c + 1 < pl.Cg) prefetch_run(s, xg + (c + 1) * s.H * s.W, ti, tj, len);
      input_run(s, xg + c * s.H * s.W, ti, tj, len, rs, V + c * pl.ld + j, pl.vs);
    }
  });
}

}  // namespace

template <typename T>
void winograd_forward_rows(const WinogradConv& s, const T* x, const T* w, const T* bias, T* out) {
  const Plan pl(s, sizeof(T));
  const int64_t Cg = pl.Cg, Kg = pl.Kg;
  auto U = scratch<T>(s.G * kXi * Kg * Cg);  // (G, 36, Kg, Cg)
#pragma omp parallel if (go_parallel(s, pl.tl, pl.tasks))
  {
    transform_filters(w, s.G, Kg, Cg, U.get());
    auto V = zeroed_scratch<T>(kXi * pl.vs), M = zeroed_scratch<T>(kXi * pl.ms);
    RunScratch<T> rs(pl.tl);
#pragma omp for schedule(dynamic, 1) nowait  // the region's join is the barrier
    for (int64_t task = 0; task < pl.tasks; ++task) {
      const int64_t g = pl.group(task), t0 = pl.first(task), nt = pl.count(task);
      transform_inputs(s, pl, x, g, t0, nt, rs, V.get());
      for (int64_t xi = 0; xi < kXi; ++xi) {
        gemm<T>(M.get() + xi * pl.ms, pl.ld, {U.get() + (g * kXi + xi) * Kg * Cg, Cg, 1},
                {V.get() + xi * pl.vs, pl.ld, 1}, Kg, nt, Cg, false, packed_pays(Cg, Kg));
      }
      for_each_run(pl.tl, t0, nt, [&](int64_t j, int64_t n, int64_t ti, int64_t tj, int64_t len) {
        for (int64_t k = 0; k < Kg; ++k)
          output_run(s, M.get() + k * pl.ld + j, pl.ms, bias != nullptr ? bias[g * Kg + k] : T(0),
                     out + (n * s.K + g * Kg + k) * s.P() * s.Q(), ti, tj, len, rs);
      });
    }
  }
}

template <typename T>
void winograd_backward_weight_rows(const WinogradConv& s, const T* gout, const T* x, T* gw) {
  const Plan pl(s, sizeof(T));
  const int64_t Cg = pl.Cg, Kg = pl.Kg;
  const bool parallel = go_parallel(s, pl.tl, pl.tasks);
  const int64_t max_threads = parallel ? omp_get_max_threads() : 1;
  const int64_t ssize = s.G * kXi * Kg * Cg;  // S: (G, 36, Kg, Cg) per thread
  auto S = scratch<T>(max_threads * ssize);
  std::fill_n(S.get(), max_threads * ssize, T(0));
#pragma omp parallel if (parallel)
  {
    const int64_t team = omp_get_num_threads();  // the same in every thread: no single, no barrier
    T* acc = S.get() + omp_get_thread_num() * ssize;
    auto V = zeroed_scratch<T>(kXi * pl.vs), Z = zeroed_scratch<T>(kXi * pl.ms);
    RunScratch<T> rs(pl.tl);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < pl.tasks; ++task) {
      const int64_t g = pl.group(task), t0 = pl.first(task), nt = pl.count(task);
      transform_inputs(s, pl, x, g, t0, nt, rs, V.get());
      for_each_run(pl.tl, t0, nt, [&](int64_t j, int64_t n, int64_t ti, int64_t tj, int64_t len) {
        for (int64_t k = 0; k < Kg; ++k)
          grad_run(s, gout + (n * s.K + g * Kg + k) * s.P() * s.Q(), ti, tj, len, rs,
                   Z.get() + k * pl.ld + j, pl.ms);
      });
      for (int64_t xi = 0; xi < kXi; ++xi) {
        gemm<T>(acc + (g * kXi + xi) * Kg * Cg, Cg, {Z.get() + xi * pl.ms, pl.ld, 1},
                {V.get() + xi * pl.vs, 1, pl.ld}, Kg, Cg, nt, true, packed_pays(Cg, Kg));
      }
    }
    sum_adjoint_filters(S.get(), ssize, team, s.G, Kg, Cg, gw);
  }
}

template <typename T>
void winograd_forward(const WinogradConv& s, const T* x, const T* w, const T* bias, T* out) {
  if (winograd_by_channels(s)) return winograd_forward_channels(s, x, w, bias, out);
  winograd_forward_rows(s, x, w, bias, out);
}

template <typename T>
void winograd_backward_weight(const WinogradConv& s, const T* gout, const T* x, T* gw) {
  if (winograd_by_channels(s)) return winograd_backward_weight_channels(s, gout, x, gw);
  winograd_backward_weight_rows(s, gout, x, gw);
}

#define EMBER_WINOGRAD_INSTANTIATE(T, suffix)                                                  \
  template void winograd_forward##suffix<T>(const WinogradConv&, const T*, const T*, const T*, \
                                            T*);                                               \
  template void winograd_backward_weight##suffix<T>(const WinogradConv&, const T*, const T*, T*);
EMBER_WINOGRAD_INSTANTIATE(float, )
EMBER_WINOGRAD_INSTANTIATE(double, )
EMBER_WINOGRAD_INSTANTIATE(float, _rows)
EMBER_WINOGRAD_INSTANTIATE(double, _rows)
#undef EMBER_WINOGRAD_INSTANTIATE

}  // namespace ember::cpu
