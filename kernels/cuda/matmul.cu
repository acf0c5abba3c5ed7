// Tiled GEMM in shared memory: the `sim` device's matmul, selectable on `cuda`.
//
// Math:   out[b] = a[b] @ b[b] for every batch b; f32 accumulates in f32 (as cuBLAS
//         does without TF32), f64 in f64, bf16 and f16 in f32 (each element widened as it
//         is loaded into shared memory, the sum rounded once when stored: cuBLAS's
//         CUBLAS_COMPUTE_32F, what serves `cuda`).
// Shapes: a (B, M, K), b (B, K, N) with any strides (batch stride 0 when broadcast);
//         out (B, M, N) contiguous.
// Split:  one 64x64 tile of out per block of 16x16 threads; thread (tx, ty) owns the
//         4x4 outputs at rows ty + 16i and columns tx + 16j, so a warp reads shared
//         memory without bank conflicts. K advances in steps of 16: each thread loads 4
//         elements of the A tile and 4 of the B tile into shared memory (zeros past
//         the edges), the block synchronizes, multiplies, and synchronizes again.
//         grid = (ceil(N/64), ceil(M/64), min(B, 65535)); batches beyond loop.
// Cost:   FLOPs = 2*B*M*N*K; bytes = B*(M*K + K*N + M*N)*sizeof(T) at the least (each
//         input tile is re-read by ceil(N/64) or ceil(M/64) blocks, mostly from L2).
// Pre:    K >= 1 (the op layer fills out with zeros for K == 0).
// Version: plain FMA loop, no tensor cores and no double buffering: correct everywhere,
//         about a tenth of cuBLAS on Hopper; cuBLAS serves `cuda` by default.
//         bf16/f16 (issue 16): the same loop on the f32 accumulator type; the shared
//         tiles hold the widened values (f32 tiles, as for f32 inputs).
#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/matmul.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kTile = 64;                  // BM = BN
constexpr int kStep = 16;                  // BK
constexpr int kSide = 16;                  // threads per side: 16 x 16 = 256
constexpr int kPerThread = kTile / kSide;  // 4

// T is the storage type, Acc = opmath_t<T> the type the tiles are held and summed in.
template <typename T>
__global__ void gemm_tiled(GemmShape s, T* out, const T* a, const T* b) {
  using Acc = opmath_t<T>;
  __shared__ Acc
      As[kStep][kTile + 1];  // As[k][m]: A's tile transposed; +1 breaks the store conflicts
  __shared__ Acc Bs[kStep][kTile + 1];  // Bs[k][n]
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int tid = ty * kSide + tx;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTile,
                n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  for (int64_t batch = blockIdx.z; batch < s.batch; batch += gridDim.z) {
    const T* pa = a + batch * s.a_batch;
    const T* pb = b + batch * s.b_batch;
    Acc acc[kPerThread][kPerThread];
    EMBER_UNROLL
    for (int i = 0; i < kPerThread; ++i) EMBER_UNROLL
    for (int j = 0; j < kPerThread; ++j) acc[i][j] = Acc(0);

    for (int64_t k0 = 0; k0 < s.k; k0 += kStep) {
      EMBER_UNROLL
      for (int e = 0; e < kPerThread; ++e) {
        const int idx = tid + e * kSide * kSide;
        const int am = idx / kStep, ak = idx % kStep;  // A tile: 64 rows x 16
        const int64_t gm = m0 + am, gk = k0 + ak;
        As[ak][am] = (gm < s.m && gk < s.k) ? Acc(pa[gm * s.a_row + gk * s.a_col]) : Acc(0);
        const int bk = idx / kTile, bn = idx % kTile;  // B tile: 16 rows x 64
        const int64_t gk2 = k0 + bk, gn = n0 + bn;
        Bs[bk][bn] = (gk2 < s.k && gn < s.n) ? Acc(pb[gk2 * s.b_row + gn * s.b_col]) : Acc(0);
      }
      __syncthreads();
      EMBER_UNROLL
      for (int kk = 0; kk < kStep; ++kk) {
        Acc av[kPerThread], bv[kPerThread];
        EMBER_UNROLL
        for (int i = 0; i < kPerThread; ++i) av[i] = As[kk][ty + kSide * i];
        EMBER_UNROLL
        for (int j = 0; j < kPerThread; ++j) bv[j] = Bs[kk][tx + kSide * j];
        EMBER_UNROLL
        for (int i = 0; i < kPerThread; ++i) EMBER_UNROLL
        for (int j = 0; j < kPerThread; ++j) acc[i][j] += av[i] * bv[j];
      }
      __syncthreads();
    }
    T* po = out + batch * s.m * s.n;
    EMBER_UNROLL
    for (int i = 0; i < kPerThread; ++i) {
      const int64_t gm = m0 + ty + kSide * i;
      EMBER_UNROLL
      for (int j = 0; j < kPerThread; ++j) {
        const int64_t gn = n0 + tx + kSide * j;
        if (gm < s.m && gn < s.n) po[gm * s.n + gn] = T(acc[i][j]);  // the one rounding
      }
    }
  }
}

template <typename T>
void run(const GemmShape& s, T* out, const T* a, const T* b) {
  const auto gx = static_cast<unsigned>((s.n + kTile - 1) / kTile);
  const auto gy = static_cast<unsigned>((s.m + kTile - 1) / kTile);
  const auto gz = static_cast<unsigned>(s.batch < 65535 ? s.batch : 65535);
  if (gy > 65535)
    fail<ValueError>("matmul", "the tiled GEMM handles at most ", 65535 * kTile, " rows, got ",
                     s.m);
  const LaunchConfig cfg{"gemm_tiled", dim3(gx, gy, gz), dim3(kSide, kSide)};
  launch(cfg, &gemm_tiled<T>, s, out, a, b);
}

}  // namespace

void launch_gemm_tiled(DType dtype, const GemmShape& s, void* out, const void* a, const void* b) {
  switch (dtype) {
    case DType::f32:
      return run(s, static_cast<float*>(out), static_cast<const float*>(a),
                 static_cast<const float*>(b));
    case DType::f64:
      return run(s, static_cast<double*>(out), static_cast<const double*>(a),
                 static_cast<const double*>(b));
    case DType::bf16:  // issue 16
      return run(s, static_cast<bf16*>(out), static_cast<const bf16*>(a),
                 static_cast<const bf16*>(b));
    case DType::f16:
      return run(s, static_cast<f16*>(out), static_cast<const f16*>(a), static_cast<const f16*>(b));
    default: fail<InternalError>("matmul", "no kernel for ", dtype);
  }
}

}  // namespace ember::EMBER_VARIANT
