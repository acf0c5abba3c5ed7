// Row-wise softmax and log_softmax.
//
// Math:   m = max_k x[k] (NaN propagates; a row of -inf uses m = 0, so it gives NaN, as
//         on the cpu), s = sum_k exp(x[k] - m); softmax y = exp(x - m) / s, log_softmax
//         y = x - m - log(s). Computed in T (f32 rows accumulate in f32, as GPU
//         frameworks do; the cpu backend sums in f64); bf16/f16 rows in f32, rounded once.
// Shapes: in (R, K) contiguous -> out (R, K) contiguous.
// Split:  K <= 1024: one row per warp (8 per block of 256 threads); else one row per
//         block of 512 threads. Three passes over the row: max, sum of exponentials,
//         write; the row is re-read from cache. Lanes read with stride 32 (coalesced).
// Cost:   FLOPs ~ 5*R*K (max, sub, exp, add, scale; exp counted as 1); bytes =
//         2*R*K*sizeof(T) (read once from memory, written once).
// Pre:    K >= 1.
#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/softmax.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kWarpRowsMaxK = 1024;
constexpr int kWarpThreads = 256;
constexpr int kBlockThreads = 512;

// bf16/f16 rows load each value as f32 (opmath M), compute in f32 and round once on store.
template <typename T, typename Group>
EMBER_DEVICE void softmax_row(const Group& grp, const T* x, T* y, int64_t K, bool log) {
  using M = opmath_t<T>;
  M m = static_cast<M>(x[0]);
  for (int64_t k = grp.rank; k < K; k += grp.size) m = nan_max(m, static_cast<M>(x[k]));
  m = grp.allreduce(m, [](M a, M b) { return nan_max(a, b); });
  if (m < M(0) && m * M(0) != M(0)) m = 0;  // m is -inf (inf * 0 is NaN): a fully masked row
  M s = 0;
  for (int64_t k = grp.rank; k < K; k += grp.size) s += d_exp(static_cast<M>(x[k]) - m);
  s = grp.allreduce(s, [](M a, M b) { return a + b; });
  if (log) {
    const M lse = d_log(s);
    for (int64_t k = grp.rank; k < K; k += grp.size) y[k] = T(static_cast<M>(x[k]) - m - lse);
  } else {
    const M inv = M(1) / s;
    for (int64_t k = grp.rank; k < K; k += grp.size)
      y[k] = T(d_exp(static_cast<M>(x[k]) - m) * inv);
  }
}

template <typename T>
__global__ void softmax_warp_rows(T* out, const T* in, int64_t R, int64_t K, bool log) {
  const int warps = static_cast<int>(blockDim.x / 32);
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32; r < R;
       r += static_cast<int64_t>(gridDim.x) * warps)
    softmax_row(grp, in + r * K, out + r * K, K, log);
}

template <typename T>
__global__ void softmax_block_rows(T* out, const T* in, int64_t R, int64_t K, bool log) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x)
    softmax_row(grp, in + r * K, out + r * K, K, log);
}

template <typename T>
void run(T* out, const T* in, int64_t R, int64_t K, bool log) {
  if (K <= kWarpRowsMaxK) {
    const LaunchConfig cfg{"softmax_warp_rows", dim3(grid_for(R, kWarpThreads / 32)),
                           dim3(kWarpThreads)};
    launch(cfg, &softmax_warp_rows<T>, out, in, R, K, log);
  } else {
    const LaunchConfig cfg{"softmax_block_rows", dim3(grid_for(R, 1)), dim3(kBlockThreads)};
    launch(cfg, &softmax_block_rows<T>, out, in, R, K, log);
  }
}

}  // namespace

void launch_softmax(DType dtype, void* out, const void* in, int64_t rows, int64_t cols, bool log) {
  switch (dtype) {
    case DType::f32:
      return run(static_cast<float*>(out), static_cast<const float*>(in), rows, cols, log);
    case DType::f64:
      return run(static_cast<double*>(out), static_cast<const double*>(in), rows, cols, log);
    case DType::bf16:  // issue 16
      return run(static_cast<bf16*>(out), static_cast<const bf16*>(in), rows, cols, log);
    case DType::f16:
      return run(static_cast<f16*>(out), static_cast<const f16*>(in), rows, cols, log);
    default: fail<InternalError>(log ? "log_softmax" : "softmax", "no kernel for ", dtype);
  }
}

}  // namespace ember::EMBER_VARIANT
