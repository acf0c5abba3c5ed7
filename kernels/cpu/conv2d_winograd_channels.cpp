// Winograd F(4x4, 3x3) of the cpu backend with the transforms vectorized over channels: the
// layout for small images (kernels/cpu/conv2d_winograd.h says which serves a call).
//
// Math: as kernels/cpu/conv2d_winograd.cpp (its opening comment has B^T, G, A^T and the
// 36 GEMMs). That file's transforms run along the tiles of one tile row: a 7x7 image has 2
// tiles a row and a 14x14 one 4, so its vectors are mostly padding and each call does a
// few lanes of work. Here each image of a block is first copied into a zero-padded
// channels-last plane xt (Hp, Wp, Cg), Hp = 4 TP + 2, Wp = 4 TQ + 2, where a tile's 6x6
// patch is 36 contiguous channel vectors read without bounds checks; every transform is a
// loop over the channels of one tile. V is (36, tiles, Cg), M (36, tiles, Kg), and
//   forward:         M_xi (nt, Kg) = V_xi (nt, Cg) @ U_xi^T (Cg, Kg), U_xi (Kg, Cg);
//                    A^T M A is written channels-last (4 TP, 4 TQ, Kg), then transposed into
//                    the output planes (Kg, P, Q) with the bias;
//   weight gradient: grad_out is copied channels-last (4 TP, 4 TQ, Kg) the same way,
//                    Z = A dy A^T (36, tiles, Kg), S_xi (Kg, Cg) += Z_xi^T (Kg, nt) V_xi (nt, Cg).
//
// Work split: blocks of whole images of one group, about kBlockBytes of V and M (at least
// one image; at least one block per thread when there are enough images); OpenMP over
// (group, block), GEMMs on the calling thread (dense::gemm: with up to 64 channels both
// products read their narrow right operand in place, the forward's as the transposed
// filters Ut (36, Cg, Kg)); the forward hands blocks out dynamically, the accumulating
// weight gradient statically (one S per thread, summed in thread order at the end).
//
// Cost per call (Tt = N TP TQ tiles, F = sizeof(T)):
//   FLOPs: GEMMs 72 G Kg Cg Tt; input transform ~130 C Tt; output transform ~100 K Tt.
//   Bytes: x, w and out once; the channels-last planes, V and M stay in L2.
// Preconditions: 3x3 kernel, stride 1, dilation 1, 0 <= ph, pw, C = G Cg, K = G Kg,
// P, Q >= 1.
#include <omp.h>

#include <algorithm>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/dense.h"
#include "kernels/cpu/winograd_shared.h"

namespace ember::cpu {

namespace {

using namespace dense;     // NOLINT: the kernels' shared helpers
using namespace winograd;  // NOLINT: what the two layouts share

// Images of at most this many tiles a row take this layout: the other one's runs fill
// their 8-lane vectors from 8 tiles a row on.
constexpr int64_t kMaxTileCols = 7;

// How a call splits its images: blocks of `imgs` images of one group, one task each.
struct Plan {
  Plan(const WinogradConv& s, size_t elem, int64_t threads)
      : Cg(s.C / s.G),
        Kg(s.K / s.G),
        TP((s.P() + 3) / 4),
        TQ((s.Q() + 3) / 4),
        tiles(TP * TQ),
        Hp(4 * TP + 2),
        Wp(4 * TQ + 2) {
    const int64_t per_image = kXi * tiles * (Cg + Kg) * static_cast<int64_t>(elem);
    nblocks = ceil_div(s.N, std::max<int64_t>(1, kBlockBytes / per_image));
    if (s.G * nblocks < threads) nblocks = std::min(s.N, ceil_div(threads, s.G));
    nblocks = std::max<int64_t>(nblocks, 1);
    imgs = std::max<int64_t>(1, ceil_div(s.N, nblocks));
    nblocks = ceil_div(s.N, imgs);
    tasks = s.G * nblocks;
    vs = imgs * tiles * Cg + kPad;
    ms = imgs * tiles * Kg + kPad;
  }
  int64_t Cg, Kg, TP, TQ, tiles, Hp, Wp;
  int64_t nblocks = 0, imgs = 0, tasks = 0, vs = 0, ms = 0;
  int64_t group(int64_t task) const { return task / nblocks; }
  int64_t first(int64_t task) const { return (task % nblocks) * imgs; }
  int64_t count(const WinogradConv& s, int64_t task) const {
    return std::min(imgs, s.N - first(task));
  }
  // A channels-last plane big enough for xt (Hp, Wp, Cg) and the (4 TP, 4 TQ, Kg) ones.
  int64_t plane() const { return Hp * Wp * std::max(Cg, Kg); }
};

bool go_parallel(const WinogradConv& s, const Plan& pl) {
  const int64_t macs = kXi * s.N * pl.tiles * pl.Kg * s.C;
  return pl.tasks > 1 && macs >= kParallelMacs && omp_get_max_threads() > 1 && !omp_in_parallel();
}

#if defined(__AVX__)
// out[i][0, 8) = (in[0][i], ..., in[7][i]) for i < 8, plus add[i] when add is not null: an 8x8
// transpose between rows anywhere in memory.
inline void transpose8(const float* const* in, float* const* out, const float* add) {
  const __m256 r0 = _mm256_loadu_ps(in[0]), r1 = _mm256_loadu_ps(in[1]),
               r2 = _mm256_loadu_ps(in[2]), r3 = _mm256_loadu_ps(in[3]),
               r4 = _mm256_loadu_ps(in[4]), r5 = _mm256_loadu_ps(in[5]),
               r6 = _mm256_loadu_ps(in[6]), r7 = _mm256_loadu_ps(in[7]);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
               t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
               t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)),
               u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
               u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)),
               u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
               u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)),
               u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
               u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)),
               u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 o[8] = {_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                 _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                 _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                 _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
  for (int i = 0; i < 8; ++i)
    _mm256_storeu_ps(out[i], add != nullptr ? _mm256_add_ps(o[i], _mm256_set1_ps(add[i])) : o[i]);
}
#endif

// The pixel (y, x) of a (rows, cols, nch) channels-last plane stepping through an h x w
// image placed at (r0, c0), in row-major order.
template <typename T>
struct PixelWalk {
  T* plane;
  int64_t nch, cols, w, r0, c0, y, x;
  T* at() const { return plane + ((y + r0) * cols + x + c0) * nch; }
  void next() {
    if (++x == w) x = 0, ++y;
  }
};

// dst (rows, cols, nch) = the planes src (nch, h, w) placed at (r0, c0), zero elsewhere
// (r0 + h <= rows, c0 + w <= cols). Blocks of 8 channels x 8 pixels go through transpose8
// (f32 with AVX), the rest one value at a time: a plain loop's strided stores cost more
// than the transforms. Only the border is zeroed (a memset of the whole plane was 4% of a
// 16->16 layer at 28x28).
template <typename T>
void to_channels_last(const T* src, int64_t nch, int64_t h, int64_t w, T* dst, int64_t rows,
                      int64_t cols, int64_t r0, int64_t c0) {
  const int64_t row = cols * nch;  // one row of dst
  std::fill_n(dst, r0 * row, T(0));
  std::fill_n(dst + (r0 + h) * row, (rows - r0 - h) * row, T(0));
  for (int64_t r = r0; r < r0 + h; ++r) {
    std::fill_n(dst + r * row, c0 * nch, T(0));
    std::fill_n(dst + r * row + (c0 + w) * nch, (cols - c0 - w) * nch, T(0));
  }
  const int64_t hw = h * w;
  int64_t c = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    for (; c + 8 <= nch; c += 8) {
      PixelWalk<T> px{dst, nch, cols, w, r0, c0, 0, 0};
      int64_t i = 0;
      for (; i + 8 <= hw; i += 8) {
        const float* in[8];
        float* out[8];
        for (int j = 0; j < 8; ++j, px.next()) in[j] = src + (c + j) * hw + i, out[j] = px.at() + c;
        transpose8(in, out, nullptr);
      }
      for (; i < hw; ++i, px.next())
        for (int64_t j = 0; j < 8; ++j) px.at()[c + j] = src[(c + j) * hw + i];
    }
  }
#endif
  if (c == nch) return;
  PixelWalk<T> px{dst, nch, cols, w, r0, c0, 0, 0};
  for (int64_t i = 0; i < hw; ++i, px.next())
    for (int64_t cc = c; cc < nch; ++cc) px.at()[cc] = src[cc * hw + i];
}

// dst (nch, h, w) = src (rows >= h, cols >= w, nch) + bias (null: none); as
// to_channels_last, the other way.
template <typename T>
void from_channels_last(const T* src, int64_t nch, int64_t cols, const T* bias, T* dst, int64_t h,
                        int64_t w) {
  const int64_t hw = h * w;
  T* const plane = const_cast<T*>(src);  // PixelWalk only computes addresses here
  int64_t c = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    for (; c + 8 <= nch; c += 8) {
      PixelWalk<T> px{plane, nch, cols, w, 0, 0, 0, 0};
      const float* add = bias != nullptr ? bias + c : nullptr;
      int64_t i = 0;
      for (; i + 8 <= hw; i += 8) {
        const float* in[8];
        float* out[8];
        for (int j = 0; j < 8; ++j, px.next()) in[j] = px.at() + c, out[j] = dst + (c + j) * hw + i;
        transpose8(in, out, add);
      }
      for (; i < hw; ++i, px.next())
        for (int64_t j = 0; j < 8; ++j)
          dst[(c + j) * hw + i] = px.at()[c + j] + (add != nullptr ? add[j] : T(0));
    }
  }
#endif
  for (; c < nch; ++c) {
    const T b = bias != nullptr ? bias[c] : T(0);
    PixelWalk<T> px{plane, nch, cols, w, 0, 0, 0, 0};
    for (int64_t i = 0; i < hw; ++i, px.next()) dst[c * hw + i] = px.at()[c] + b;
  }
}

// v[xi * vs + c] = (B^T d B)[xi] for c < C, where d is the 6x6 patch of channel vectors at
// d (rows rs apart, columns C apart); buf (6, 6, C).
template <typename T>
void input_tile(const T* d, int64_t rs, int64_t C, T* buf, T* v, int64_t vs) {
  for (int64_t col = 0; col < 6; ++col) {  // B^T over the rows of each column
    const T* dc = d + col * C;
    T* e = buf + col * C;  // row a of B^T d at e + 6 a C
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const T d0 = dc[c], d1 = dc[rs + c], d2 = dc[2 * rs + c], d3 = dc[3 * rs + c],
              d4 = dc[4 * rs + c], d5 = dc[5 * rs + c];
      e[c] = 4 * d0 - 5 * d2 + d4;
      e[6 * C + c] = d3 + d4 - 4 * (d1 + d2);
      e[12 * C + c] = d4 - d3 + 4 * (d1 - d2);
      e[18 * C + c] = d4 - d2 + 2 * (d3 - d1);
      e[24 * C + c] = d4 - d2 + 2 * (d1 - d3);
      e[30 * C + c] = 4 * d1 - 5 * d3 + d5;
    }
  }
  for (int64_t a = 0; a < 6; ++a) {  // B over the columns of each row
    const T* e = buf + 6 * a * C;
    T* o = v + 6 * a * vs;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const T c0 = e[c], c1 = e[C + c], c2 = e[2 * C + c], c3 = e[3 * C + c], c4 = e[4 * C + c],
              c5 = e[5 * C + c];
      o[c] = 4 * c0 - 5 * c2 + c4;
      o[vs + c] = c3 + c4 - 4 * (c1 + c2);
      o[2 * vs + c] = c4 - c3 + 4 * (c1 - c2);
      o[3 * vs + c] = c4 - c2 + 2 * (c3 - c1);
      o[4 * vs + c] = c4 - c2 + 2 * (c1 - c3);
      o[5 * vs + c] = 4 * c1 - 5 * c3 + c5;
    }
  }
}

// The 4x4 tile of channel vectors at o (rows rs apart, columns K apart) = (A^T M A) for
// m[xi * ms + k], k < K; buf (4, 6, K).
template <typename T>
void output_tile(const T* m, int64_t ms, int64_t K, T* buf, T* o, int64_t rs) {
  for (int64_t col = 0; col < 6; ++col) {  // A^T over the rows of each column
    const T* mc = m + col * ms;
    T* t = buf + col * K;  // row r of A^T M at t + 6 r K
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) {
      const T m0 = mc[k], m1 = mc[6 * ms + k], m2 = mc[12 * ms + k], m3 = mc[18 * ms + k],
              m4 = mc[24 * ms + k], m5 = mc[30 * ms + k];
      const T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
      t[k] = m0 + s12 + s34;
      t[6 * K + k] = d12 + 2 * d34;
      t[12 * K + k] = s12 + 4 * s34;
      t[18 * K + k] = d12 + 8 * d34 + m5;
    }
  }
  for (int64_t r = 0; r < 4; ++r) {  // A over the columns of each row
    const T* t = buf + 6 * r * K;
    T* dst = o + r * rs;
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) {
      const T a0 = t[k], a1 = t[K + k], a2 = t[2 * K + k], a3 = t[3 * K + k], a4 = t[4 * K + k],
              a5 = t[5 * K + k];
      const T s12 = a1 + a2, d12 = a1 - a2, s34 = a3 + a4, d34 = a3 - a4;
      dst[k] = a0 + s12 + s34;
      dst[K + k] = d12 + 2 * d34;
      dst[2 * K + k] = s12 + 4 * s34;
      dst[3 * K + k] = d12 + 8 * d34 + a5;
    }
  }
}

// z[xi * zs + k] = (A g A^T)[xi] for k < K, where g is the 4x4 tile of grad_out channel
// vectors at g (rows rs apart, columns K apart); buf (6, 4, K).
template <typename T>
void grad_tile(const T* g, int64_t rs, int64_t K, T* buf, T* z, int64_t zs) {
  for (int64_t col = 0; col < 4; ++col) {  // A over the rows of each column
    const T* gc = g + col * K;
    T* e = buf + col * K;  // row a of A g at e + 4 a K
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) {
      const T g0 = gc[k], g1 = gc[rs + k], g2 = gc[2 * rs + k], g3 = gc[3 * rs + k];
      const T s02 = g0 + g2, s13 = g1 + g3, f02 = g0 + 4 * g2, f13 = 2 * (g1 + 4 * g3);
      e[k] = g0;
      e[4 * K + k] = s02 + s13;
      e[8 * K + k] = s02 - s13;
      e[12 * K + k] = f02 + f13;
      e[16 * K + k] = f02 - f13;
      e[20 * K + k] = g3;
    }
  }
  for (int64_t a = 0; a < 6; ++a) {  // A^T over the columns of each row
    const T* e = buf + 4 * a * K;
    T* o = z + 6 * a * zs;
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) {
      const T c0 = e[k], c1 = e[K + k], c2 = e[2 * K + k], c3 = e[3 * K + k];
      const T s02 = c0 + c2, s13 = c1 + c3, f02 = c0 + 4 * c2, f13 = 2 * (c1 + 4 * c3);
      o[k] = c0;
      o[zs + k] = s02 + s13;
      o[2 * zs + k] = s02 - s13;
      o[3 * zs + k] = f02 + f13;
      o[4 * zs + k] = f02 - f13;
      o[5 * zs + k] = c3;
    }
  }
}

// V (36, nimg tiles, Cg) of images [n0, n0 + nimg) of group g.
template <typename T>
void transform_inputs(const WinogradConv& s, const Plan& pl, const T* x, int64_t g, int64_t n0,
                      int64_t nimg, T* xt, T* buf, T* V) {
  const int64_t Cg = pl.Cg;
  for (int64_t i = 0; i < nimg; ++i) {
    to_channels_last(x + ((n0 + i) * s.C + g * Cg) * s.H * s.W, Cg, s.H, s.W, xt, pl.Hp, pl.Wp,
                     s.ph, s.pw);
    for (int64_t ti = 0; ti < pl.TP; ++ti)
      for (int64_t tj = 0; tj < pl.TQ; ++tj)
        input_tile(xt + (4 * ti * pl.Wp + 4 * tj) * Cg, pl.Wp * Cg, Cg, buf,
                   V + ((i * pl.TP + ti) * pl.TQ + tj) * Cg, pl.vs);
  }
}

}  // namespace

bool winograd_by_channels(const WinogradConv& s) { return (s.Q() + 3) / 4 <= kMaxTileCols; }

template <typename T>
void winograd_forward_channels(const WinogradConv& s, const T* x, const T* w, const T* bias,
                               T* out) {
  const Plan pl(s, sizeof(T), omp_in_parallel() ? 1 : omp_get_max_threads());
  const int64_t Cg = pl.Cg, Kg = pl.Kg, P = s.P(), Q = s.Q(), Wo = 4 * pl.TQ;
  auto U = scratch<T>(s.G * kXi * Kg * Cg);   // (G, 36, Kg, Cg)
  auto Ut = scratch<T>(s.G * kXi * Kg * Cg);  // (G, 36, Cg, Kg): M_xi = V_xi Ut_xi
#pragma omp parallel if (go_parallel(s, pl))
  {
    transform_filters(w, s.G, Kg, Cg, U.get());
    transpose_filters(U.get(), s.G, Kg, Cg, Ut.get());
    auto V = scratch<T>(kXi * pl.vs), M = scratch<T>(kXi * pl.ms);
    auto plane = scratch<T>(pl.plane()), buf = scratch<T>(kXi * std::max(Cg, Kg));
#pragma omp for schedule(dynamic, 1) nowait  // the region's join is the barrier
    for (int64_t task = 0; task < pl.tasks; ++task) {
      const int64_t g = pl.group(task), n0 = pl.first(task), nimg = pl.count(s, task);
      const int64_t nt = nimg * pl.tiles;
      transform_inputs(s, pl, x, g, n0, nimg, plane.get(), buf.get(), V.get());
      for (int64_t xi = 0; xi < kXi; ++xi) {
        gemm<T>(M.get() + xi * pl.ms, Kg, {V.get() + xi * pl.vs, Cg, 1},
                {Ut.get() + (g * kXi + xi) * Kg * Cg, Kg, 1}, nt, Kg, Cg, false,
                packed_pays(Cg, Kg));
      }
      for (int64_t i = 0; i < nimg; ++i) {
        for (int64_t ti = 0; ti < pl.TP; ++ti)
          for (int64_t tj = 0; tj < pl.TQ; ++tj)
            output_tile(M.get() + ((i * pl.TP + ti) * pl.TQ + tj) * Kg, pl.ms, Kg, buf.get(),
                        plane.get() + (4 * ti * Wo + 4 * tj) * Kg, Wo * Kg);
        from_channels_last(plane.get(), Kg, Wo, bias != nullptr ? bias + g * Kg : nullptr,
                           out + ((n0 + i) * s.K + g * Kg) * P * Q, P, Q);
      }
    }
  }
}

template <typename T>
void winograd_backward_weight_channels(const WinogradConv& s, const T* gout, const T* x, T* gw) {
  const int64_t max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const Plan pl(s, sizeof(T), max_threads);
  const int64_t Cg = pl.Cg, Kg = pl.Kg, P = s.P(), Q = s.Q(), Wo = 4 * pl.TQ;
  const bool parallel = go_parallel(s, pl);
  const int64_t accs = parallel ? max_threads : 1;
  const int64_t ssize = s.G * kXi * Kg * Cg;  // S: (G, 36, Kg, Cg) per thread
  auto S = scratch<T>(accs * ssize);
  std::fill_n(S.get(), accs * ssize, T(0));
#pragma omp parallel if (parallel)
  {
    const int64_t team = omp_get_num_threads();  // the same in every thread: no single, no barrier
    T* acc = S.get() + omp_get_thread_num() * ssize;
    auto V = scratch<T>(kXi * pl.vs), Z = scratch<T>(kXi * pl.ms);
    auto plane = scratch<T>(pl.plane()), buf = scratch<T>(kXi * std::max(Cg, Kg));
#pragma omp for schedule(static)
    for (int64_t task = 0; task < pl.tasks; ++task) {
      const int64_t g = pl.group(task), n0 = pl.first(task), nimg = pl.count(s, task);
      const int64_t nt = nimg * pl.tiles;
      transform_inputs(s, pl, x, g, n0, nimg, plane.get(), buf.get(), V.get());
      for (int64_t i = 0; i < nimg; ++i) {
        to_channels_last(gout + ((n0 + i) * s.K + g * Kg) * P * Q, Kg, P, Q, plane.get(), 4 * pl.TP,
                         Wo, 0, 0);
        for (int64_t ti = 0; ti < pl.TP; ++ti)
          for (int64_t tj = 0; tj < pl.TQ; ++tj)
            grad_tile(plane.get() + (4 * ti * Wo + 4 * tj) * Kg, Wo * Kg, Kg, buf.get(),
                      Z.get() + ((i * pl.TP + ti) * pl.TQ + tj) * Kg, pl.ms);
      }
      for (int64_t xi = 0; xi < kXi; ++xi) {
        gemm<T>(acc + (g * kXi + xi) * Kg * Cg, Cg, {Z.get() + xi * pl.ms, 1, Kg},
                {V.get() + xi * pl.vs, Cg, 1}, Kg, Cg, nt, true, packed_pays(Cg, Kg));
      }
    }
    sum_adjoint_filters(S.get(), ssize, team, s.G, Kg, Cg, gw);
  }
}

template void winograd_forward_channels<float>(const WinogradConv&, const float*, const float*,
                                               const float*, float*);
template void winograd_forward_channels<double>(const WinogradConv&, const double*, const double*,
                                                const double*, double*);
template void winograd_backward_weight_channels<float>(const WinogradConv&, const float*,
                                                       const float*, float*);
template void winograd_backward_weight_channels<double>(const WinogradConv&, const double*,
                                                        const double*, double*);

}  // namespace ember::cpu
