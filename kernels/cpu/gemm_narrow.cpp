// The narrow f32 GEMM (gemm_packed.h's gemm_narrow_f32): c (M, N) (+)= a (M, K) @ b (K, N)
// for N <= 4 vectors (64 columns with AVX-512, 32 with AVX2) and b row-major, one thread.
// b is read in place, row k per k, by a tile of R rows x NV vectors of c kept in registers
// over the whole depth (gemm_simd.h; a masked last vector), a by broadcasts at its own
// strides: no packing, which for a 16-wide b cost more than the product (the Winograd
// channels-last layout's products, issue 19). Row tiles are of equal height (M = 32 with
// 16-row tiles: two of 16).
// Cost: 2 M N K FLOPs; bytes: a once, b ceil(M / R) times, c once (read too when adding).
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/gemm_simd.h"

#include <array>
#include <utility>

namespace ember::cpu {

#if EMBER_GEMM_PACKED
namespace {

using namespace gemm_simd;  // NOLINT: the micro-kernels' vector helpers

// The narrow GEMM (gemm_narrow_f32): rows of c in tiles of R, each row NV vectors wide,
// the whole depth with the tile in registers; per k, NV vector loads of b's row k (masked
// past N) and R broadcasts of a. R NV accumulators: at most 24 of AVX-512's 32 registers,
// 12 of AVX2's 16.
#if defined(__AVX512F__)
constexpr int kNarrowAcc = 24;
#else
constexpr int kNarrowAcc = 12;
#endif
constexpr int kNarrowMaxNV = 4;

template <int NV>
constexpr int narrow_rows() {
  return kNarrowAcc / NV;
}

// c[0:R, 0:N] (+)= a[0:R, :] @ b, b (K, N) row-major with ldb between rows; the last of the
// NV vectors has `tail_lanes` lanes (N - (NV - 1) kLanes).
template <int R, int NV>
void narrow_tile(int64_t K, const float* __restrict a, int64_t ars, int64_t acs,
                 const float* __restrict b, int64_t ldb, float* __restrict c, int64_t ldc,
                 int tail_lanes, bool add) {
  const Mask tail = lane_mask(tail_lanes);
  Vec acc[R][NV];
  tile_zero(acc);
  for (int64_t k = 0; k < K; ++k, a += acs, b += ldb) {
    Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v + 1 < NV; ++v) bv[v] = vloadu(b + v * kLanes);
    bv[NV - 1] = vload_masked(b + (NV - 1) * kLanes, tail);
    tile_step(acc, bv, a, ars);
  }
#pragma GCC unroll 24
  for (int i = 0; i < R; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v + 1 < NV; ++v)
      vstoreu(row + v * kLanes, add ? vadd(acc[i][v], vloadu(row + v * kLanes)) : acc[i][v]);
    float* last = row + (NV - 1) * kLanes;
    vstore_masked(last, tail,
                  add ? vadd(acc[i][NV - 1], vload_masked(last, tail)) : acc[i][NV - 1]);
  }
}

using NarrowTile = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*,
                            int64_t, int, bool);

template <int NV, int... I>
constexpr std::array<NarrowTile, narrow_rows<NV>() + 1> narrow_table(
    std::integer_sequence<int, I...>) {
  return {nullptr, &narrow_tile<I + 1, NV>...};
}
// kNarrow<NV>[R]: the tile of R rows, NV vectors wide.
template <int NV>
constexpr std::array<NarrowTile, narrow_rows<NV>() + 1> kNarrow =
    narrow_table<NV>(std::make_integer_sequence<int, narrow_rows<NV>()>{});

template <int NV>
void narrow_rows_of(float* c, int64_t ldc, const GemmOperand& a, const GemmOperand& b, int64_t M,
                    int64_t N, int64_t K, bool add) {
  constexpr int kR = narrow_rows<NV>();
  const int tail = static_cast<int>(N - (NV - 1) * kLanes);
  // Tiles of equal height (at most kR rows): M = 32 in two of 16, not 24 + 8.
  const int64_t tiles = ceil_div(M, kR), base = M / tiles, extra = M % tiles;
  int64_t m = 0;
  for (int64_t t = 0; t < tiles; ++t) {
    const int R = static_cast<int>(base + (t < extra ? 1 : 0));
    kNarrow<NV>[R](K, a.p + m * a.rs, a.rs, a.cs, b.p, b.rs, c + m * ldc, ldc, tail, add);
    m += R;
  }
}

}  // namespace

int64_t gemm_narrow_max_cols() { return kNarrowMaxNV * kLanes; }

bool gemm_narrow_f32(float* c, int64_t ldc, GemmOperand a, GemmOperand b, int64_t M, int64_t N,
                     int64_t K, bool accumulate) {
  if (b.cs != 1 || N > kNarrowMaxNV * kLanes || M < 1 || N < 1 || K < 1) return false;
  switch (ceil_div(N, kLanes)) {
    case 1: narrow_rows_of<1>(c, ldc, a, b, M, N, K, accumulate); break;
    case 2: narrow_rows_of<2>(c, ldc, a, b, M, N, K, accumulate); break;
    case 3: narrow_rows_of<3>(c, ldc, a, b, M, N, K, accumulate); break;
    default: narrow_rows_of<4>(c, ldc, a, b, M, N, K, accumulate); break;
  }
  return true;
}

#else  // no vector unit for this target: dense.h keeps Eigen
int64_t gemm_narrow_max_cols() { return 0; }

bool gemm_narrow_f32(float*, int64_t, GemmOperand, GemmOperand, int64_t, int64_t, int64_t, bool) {
  return false;
}

#endif

}  // namespace ember::cpu
