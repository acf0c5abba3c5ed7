// RMS normalization over the last dim (torch.nn.RMSNorm), forward and backward.
//
// Math:   per row of x (N values): rstd = 1 / sqrt(sum x^2 / N + eps), y = x rstd w
//         (w optional). Backward with g = dy w (dy without weight):
//           dx = rstd g - x rstd^3 mean(g x),   dw = sum_rows dy x rstd.
//         Accumulated in T: f32 in f32, f64 in f64.
// Shapes: x (R, N) contiguous, weight (N) or none -> y (R, N), rstd (R);
//         backward: dy (R, N) -> dx (R, N), dweight (N).
// Split:  rows: N <= 1024: one row per warp (8 per block of 256 threads); else one row
//         per block of 512 threads, grid-stride over rows; lanes read with stride 32
//         (layer_norm.cu's split). dweight: one thread per column, summing its column
//         over all rows in row order (deterministic, no atomics).
// Cost:   forward ~4*R*N FLOPs, bytes = 2*R*N*sizeof(T) (x read, y written; the second
//         pass over x from cache) + R*sizeof(T); backward ~6*R*N FLOPs, bytes =
//         3*R*N*sizeof(T) (dy, x read; dx written) + 2*R*N*sizeof(T) for the column sums.
// Pre:    N >= 1.
#include "kernels/cuda/rms_norm.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kWarpRowsMaxN = 1024;
constexpr int kWarpThreads = 256;
constexpr int kBlockThreads = 512;
constexpr int kColumnThreads = 256;

template <typename T, typename Group>
EMBER_DEVICE void forward_row(const Group& grp, int64_t r, int64_t N, T eps, const T* x, const T* w,
                              T* y, T* rstd) {
  const T* row = x + r * N;
  auto add = [](T a, T c) { return a + c; };
  T ss = 0;
  for (int64_t c = grp.rank; c < N; c += grp.size) ss += row[c] * row[c];
  const T rs = T(1) / d_sqrt(grp.allreduce(ss, add) / static_cast<T>(N) + eps);
  T* out = y + r * N;
  for (int64_t c = grp.rank; c < N; c += grp.size)
    out[c] = w != nullptr ? row[c] * rs * w[c] : row[c] * rs;
  if (grp.rank == 0) rstd[r] = rs;
}

template <typename T, typename Group>
EMBER_DEVICE void backward_row(const Group& grp, int64_t r, int64_t N, const T* dy, const T* x,
                               const T* rstd, const T* w, T* dx) {
  const T* g_row = dy + r * N;
  const T* x_row = x + r * N;
  const T rs = rstd[r];
  auto add = [](T a, T c) { return a + c; };
  T sgx = 0;
  for (int64_t c = grp.rank; c < N; c += grp.size) {
    const T g = w != nullptr ? g_row[c] * w[c] : g_row[c];
    sgx += g * x_row[c];
  }
  const T b = rs * rs * rs * grp.allreduce(sgx, add) / static_cast<T>(N);
  T* out = dx + r * N;
  for (int64_t c = grp.rank; c < N; c += grp.size) {
    const T g = w != nullptr ? g_row[c] * w[c] : g_row[c];
    out[c] = rs * g - b * x_row[c];
  }
}

template <typename T>
__global__ void forward_warp_rows(int64_t R, int64_t N, T eps, const T* x, const T* w, T* y,
                                  T* rstd) {
  const int warps = static_cast<int>(blockDim.x / 32);
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32; r < R;
       r += static_cast<int64_t>(gridDim.x) * warps)
    forward_row(grp, r, N, eps, x, w, y, rstd);
}

template <typename T>
__global__ void forward_block_rows(int64_t R, int64_t N, T eps, const T* x, const T* w, T* y,
                                   T* rstd) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) forward_row(grp, r, N, eps, x, w, y, rstd);
}

template <typename T>
__global__ void backward_warp_rows(int64_t R, int64_t N, const T* dy, const T* x, const T* rstd,
                                   const T* w, T* dx) {
  const int warps = static_cast<int>(blockDim.x / 32);
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32; r < R;
       r += static_cast<int64_t>(gridDim.x) * warps)
    backward_row(grp, r, N, dy, x, rstd, w, dx);
}

template <typename T>
__global__ void backward_block_rows(int64_t R, int64_t N, const T* dy, const T* x, const T* rstd,
                                    const T* w, T* dx) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) backward_row(grp, r, N, dy, x, rstd, w, dx);
}

// dweight[c] = sum_r dy[r, c] x[r, c] rstd[r], rows in order.
template <typename T>
__global__ void backward_columns(int64_t R, int64_t N, const T* dy, const T* x, const T* rstd,
                                 T* dw) {
  for (int64_t c = global_thread(); c < N; c += grid_threads()) {
    T s = 0;
    for (int64_t r = 0; r < R; ++r) s += dy[r * N + c] * (x[r * N + c] * rstd[r]);
    dw[c] = s;
  }
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>("rms_norm", "no kernel for ", dtype);
  }
}

}  // namespace

void launch_rms_norm_forward(DType dtype, const RmsNormShape& s, void* y, void* rstd, const void* x,
                             const void* weight) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto eps = static_cast<T>(s.eps);
    const auto *xp = static_cast<const T*>(x), *w = static_cast<const T*>(weight);
    auto *yp = static_cast<T*>(y), *rp = static_cast<T*>(rstd);
    if (s.cols <= kWarpRowsMaxN) {
      const LaunchConfig cfg{"rms_norm_forward_warp_rows",
                             dim3(grid_for(s.rows, kWarpThreads / 32)), dim3(kWarpThreads)};
      launch(cfg, &forward_warp_rows<T>, s.rows, s.cols, eps, xp, w, yp, rp);
    } else {
      const LaunchConfig cfg{"rms_norm_forward_block_rows", dim3(grid_for(s.rows, 1)),
                             dim3(kBlockThreads)};
      launch(cfg, &forward_block_rows<T>, s.rows, s.cols, eps, xp, w, yp, rp);
    }
  });
}

void launch_rms_norm_backward(DType dtype, const RmsNormShape& s, void* dx, void* dweight,
                              const void* dy, const void* x, const void* rstd, const void* weight) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto *g = static_cast<const T*>(dy), *xp = static_cast<const T*>(x),
               *rp = static_cast<const T*>(rstd), *w = static_cast<const T*>(weight);
    auto* dxp = static_cast<T*>(dx);
    if (s.cols <= kWarpRowsMaxN) {
      const LaunchConfig cfg{"rms_norm_backward_warp_rows",
                             dim3(grid_for(s.rows, kWarpThreads / 32)), dim3(kWarpThreads)};
      launch(cfg, &backward_warp_rows<T>, s.rows, s.cols, g, xp, rp, w, dxp);
    } else {
      const LaunchConfig cfg{"rms_norm_backward_block_rows", dim3(grid_for(s.rows, 1)),
                             dim3(kBlockThreads)};
      launch(cfg, &backward_block_rows<T>, s.rows, s.cols, g, xp, rp, w, dxp);
    }
    if (dweight != nullptr) {
      const LaunchConfig cfg{"rms_norm_backward_columns", dim3(grid_for(s.cols, kColumnThreads)),
                             dim3(kColumnThreads)};
      launch(cfg, &backward_columns<T>, s.rows, s.cols, g, xp, rp, static_cast<T*>(dweight));
    }
  });
}

}  // namespace ember::EMBER_VARIANT
