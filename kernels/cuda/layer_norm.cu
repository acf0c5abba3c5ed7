// Layer normalization over the last dim, forward and backward.
//
// Math:   per row of x (N values): mean = sum x / N, var = sum (x - mean)^2 / N (biased,
//         two passes), rstd = 1 / sqrt(var + eps), xhat = (x - mean) rstd,
//         y = xhat w + b (w, b optional).
//         Backward with g = dy w (dy without weight):
//           dx = rstd (g - mean(g) - xhat mean(g xhat)),
//           dw = sum_rows dy xhat, db = sum_rows dy.
//         Accumulated in T: f32 in f32, f64 in f64.
// Shapes: x (R, N) contiguous, weight/bias (N) or none -> y (R, N), mean (R), rstd (R);
//         backward: dy (R, N) -> dx (R, N), dweight (N), dbias (N).
// Split:  rows: N <= 1024: one row per warp (8 per block of 256 threads); else one row
//         per block of 512 threads, grid-stride over rows; lanes read with stride 32.
//         dweight/dbias: one thread per column, each summing its column over all rows in
//         row order (deterministic, no atomics; threads of a warp read adjacent columns).
// Cost:   forward ~8*R*N FLOPs, bytes = 2*R*N*sizeof(T) (x read once from memory, the
//         second and third passes from cache) + 2*R*sizeof(T); backward ~12*R*N FLOPs,
//         bytes = 3*R*N*sizeof(T) (dy, x read; dx written) + R*N*2*sizeof(T) for the
//         column sums.
// Pre:    N >= 1.
#include "kernels/cuda/layer_norm.h"

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
                              const T* b, T* y, T* mean, T* rstd) {
  const T* row = x + r * N;
  auto add = [](T a, T c) { return a + c; };
  T s = 0;
  for (int64_t c = grp.rank; c < N; c += grp.size) s += row[c];
  const T mu = grp.allreduce(s, add) / static_cast<T>(N);
  T v = 0;
  for (int64_t c = grp.rank; c < N; c += grp.size) v += (row[c] - mu) * (row[c] - mu);
  const T var = grp.allreduce(v, add) / static_cast<T>(N);
  const T rs = T(1) / d_sqrt(var + eps);
  T* out = y + r * N;
  for (int64_t c = grp.rank; c < N; c += grp.size) {
    T h = (row[c] - mu) * rs;
    if (w != nullptr) h = h * w[c];
    if (b != nullptr) h = h + b[c];
    out[c] = h;
  }
  if (grp.rank == 0) {
    mean[r] = mu;
    rstd[r] = rs;
  }
}

template <typename T, typename Group>
EMBER_DEVICE void backward_row(const Group& grp, int64_t r, int64_t N, const T* dy, const T* x,
                               const T* mean, const T* rstd, const T* w, T* dx) {
  const T* g_row = dy + r * N;
  const T* x_row = x + r * N;
  const T mu = mean[r], rs = rstd[r];
  auto add = [](T a, T c) { return a + c; };
  T sg = 0, sgx = 0;
  for (int64_t c = grp.rank; c < N; c += grp.size) {
    const T g = w != nullptr ? g_row[c] * w[c] : g_row[c];
    sg += g;
    sgx += g * ((x_row[c] - mu) * rs);
  }
  const T mg = grp.allreduce(sg, add) / static_cast<T>(N);
  const T mgx = grp.allreduce(sgx, add) / static_cast<T>(N);
  T* out = dx + r * N;
  for (int64_t c = grp.rank; c < N; c += grp.size) {
    const T g = w != nullptr ? g_row[c] * w[c] : g_row[c];
    out[c] = rs * (g - mg - (x_row[c] - mu) * rs * mgx);
  }
}

template <typename T>
__global__ void forward_warp_rows(int64_t R, int64_t N, T eps, const T* x, const T* w, const T* b,
                                  T* y, T* mean, T* rstd) {
  const int warps = static_cast<int>(blockDim.x / 32);
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32; r < R;
       r += static_cast<int64_t>(gridDim.x) * warps)
    forward_row(grp, r, N, eps, x, w, b, y, mean, rstd);
}

template <typename T>
__global__ void forward_block_rows(int64_t R, int64_t N, T eps, const T* x, const T* w, const T* b,
                                   T* y, T* mean, T* rstd) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x)
    forward_row(grp, r, N, eps, x, w, b, y, mean, rstd);
}

template <typename T>
__global__ void backward_warp_rows(int64_t R, int64_t N, const T* dy, const T* x, const T* mean,
                                   const T* rstd, const T* w, T* dx) {
  const int warps = static_cast<int>(blockDim.x / 32);
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32; r < R;
       r += static_cast<int64_t>(gridDim.x) * warps)
    backward_row(grp, r, N, dy, x, mean, rstd, w, dx);
}

template <typename T>
__global__ void backward_block_rows(int64_t R, int64_t N, const T* dy, const T* x, const T* mean,
                                    const T* rstd, const T* w, T* dx) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x)
    backward_row(grp, r, N, dy, x, mean, rstd, w, dx);
}

// dweight[c] = sum_r dy[r, c] xhat[r, c], dbias[c] = sum_r dy[r, c], rows in order.
template <typename T>
__global__ void backward_columns(int64_t R, int64_t N, const T* dy, const T* x, const T* mean,
                                 const T* rstd, T* dw, T* db) {
  for (int64_t c = global_thread(); c < N; c += grid_threads()) {
    T sw = 0, sb = 0;
    for (int64_t r = 0; r < R; ++r) {
      const T g = dy[r * N + c];
      sw += g * ((x[r * N + c] - mean[r]) * rstd[r]);
      sb += g;
    }
    if (dw != nullptr) dw[c] = sw;
    if (db != nullptr) db[c] = sb;
  }
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>("layer_norm", "no kernel for ", dtype);
  }
}

}  // namespace

void launch_layer_norm_forward(DType dtype, const LayerNormShape& s, void* y, void* mean,
                               void* rstd, const void* x, const void* weight, const void* bias) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto eps = static_cast<T>(s.eps);
    const auto *xp = static_cast<const T*>(x), *w = static_cast<const T*>(weight),
               *b = static_cast<const T*>(bias);
    auto *yp = static_cast<T*>(y), *mp = static_cast<T*>(mean), *rp = static_cast<T*>(rstd);
    if (s.cols <= kWarpRowsMaxN) {
      const LaunchConfig cfg{"layer_norm_forward_warp_rows",
                             dim3(grid_for(s.rows, kWarpThreads / 32)), dim3(kWarpThreads)};
      launch(cfg, &forward_warp_rows<T>, s.rows, s.cols, eps, xp, w, b, yp, mp, rp);
    } else {
      const LaunchConfig cfg{"layer_norm_forward_block_rows", dim3(grid_for(s.rows, 1)),
                             dim3(kBlockThreads)};
      launch(cfg, &forward_block_rows<T>, s.rows, s.cols, eps, xp, w, b, yp, mp, rp);
    }
  });
}

void launch_layer_norm_backward(DType dtype, const LayerNormShape& s, void* dx, void* dweight,
                                void* dbias, const void* dy, const void* x, const void* mean,
                                const void* rstd, const void* weight) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto *g = static_cast<const T*>(dy), *xp = static_cast<const T*>(x),
               *mp = static_cast<const T*>(mean), *rp = static_cast<const T*>(rstd),
               *w = static_cast<const T*>(weight);
    auto* dxp = static_cast<T*>(dx);
    if (s.cols <= kWarpRowsMaxN) {
      const LaunchConfig cfg{"layer_norm_backward_warp_rows",
                             dim3(grid_for(s.rows, kWarpThreads / 32)), dim3(kWarpThreads)};
      launch(cfg, &backward_warp_rows<T>, s.rows, s.cols, g, xp, mp, rp, w, dxp);
    } else {
      const LaunchConfig cfg{"layer_norm_backward_block_rows", dim3(grid_for(s.rows, 1)),
                             dim3(kBlockThreads)};
      launch(cfg, &backward_block_rows<T>, s.rows, s.cols, g, xp, mp, rp, w, dxp);
    }
    if (dweight != nullptr || dbias != nullptr) {
      const LaunchConfig cfg{"layer_norm_backward_columns", dim3(grid_for(s.cols, kColumnThreads)),
                             dim3(kColumnThreads)};
      launch(cfg, &backward_columns<T>, s.rows, s.cols, g, xp, mp, rp, static_cast<T*>(dweight),
             static_cast<T*>(dbias));
    }
  });
}

}  // namespace ember::EMBER_VARIANT
