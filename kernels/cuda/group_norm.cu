// Group normalization of x (N, C, S) in G groups, forward and backward.
//
// Math:   per (n, g) over its K = (C/G) S values: mean, var (biased, two passes),
//         rstd = 1 / sqrt(var + eps), xhat = (x - mean) rstd, y = xhat w[c] + b[c].
//         Backward with gw = g w[c]: dx = rstd (gw - mean(gw) - xhat mean(gw xhat)),
//         dw[c] = sum_{n,s} g xhat, db[c] = sum_{n,s} g. Sums accumulate in double for
//         f32 too, as in kernels/cuda/batch_norm.cu.
// Shapes: x (N, C, S) contiguous, weight, bias (C) or none -> y (N, C, S), mean, rstd
//         (N, G); backward dy (N, C, S) -> dx (N, C, S), dweight, dbias (C).
// Split:  forward and dx: one block of 256 threads per (n, g) (grid-stride), striding
//         over the group's K contiguous values, BlockGroup reductions. dweight, dbias:
//         one block per channel summing its N*S values (no atomics: deterministic).
// Cost:   forward ~8 FLOPs per element, bytes 3 reads (two from cache) + 1 write;
//         backward ~10 FLOPs per element, bytes 2 reads of g and x for dx and 2 more for
//         dweight, dbias, + 1 write.
// Pre:    C % G == 0, K >= 1.
#include "kernels/cuda/group_norm.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void forward_groups(GroupNormShape sh, const T* x, const T* w, const T* b, T* y, T* mean,
                               T* rstd) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  const int64_t G = sh.groups, Cg = sh.c / G, K = Cg * sh.s;
  auto add = [](double a, double c) { return a + c; };
  for (int64_t ng = blockIdx.x; ng < sh.n * G; ng += gridDim.x) {
    const T* xb = x + ng * K;
    double s = 0;
    for (int64_t i = grp.rank; i < K; i += grp.size) s += xb[i];
    const double mean_d = grp.allreduce(s, add) / static_cast<double>(K);
    double v = 0;
    for (int64_t i = grp.rank; i < K; i += grp.size) v += (xb[i] - mean_d) * (xb[i] - mean_d);
    const double var = grp.allreduce(v, add) / static_cast<double>(K);
    const T mu = static_cast<T>(mean_d);
    const T r = static_cast<T>(1.0 / d_sqrt(var + sh.eps));
    if (grp.rank == 0) {
      mean[ng] = mu;
      rstd[ng] = r;
    }
    const int64_t c0 = (ng % G) * Cg;
    for (int64_t i = grp.rank; i < K; i += grp.size) {
      const int64_t c = c0 + i / sh.s;
      T h = (xb[i] - mu) * r;
      if (w != nullptr) h = h * w[c];
      if (b != nullptr) h = h + b[c];
      y[ng * K + i] = h;
    }
  }
}

template <typename T>
__global__ void backward_input(GroupNormShape sh, const T* g, const T* x, const T* mean,
                               const T* rstd, const T* w, T* dx) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  const int64_t G = sh.groups, Cg = sh.c / G, K = Cg * sh.s;
  auto add = [](double a, double c) { return a + c; };
  for (int64_t ng = blockIdx.x; ng < sh.n * G; ng += gridDim.x) {
    const T *gb = g + ng * K, *xb = x + ng * K;
    const T mu = mean[ng], r = rstd[ng];
    const int64_t c0 = (ng % G) * Cg;
    double sgw = 0, sgwx = 0;  // sum gw, sum gw (x - mean)
    for (int64_t i = grp.rank; i < K; i += grp.size) {
      const T gw = w != nullptr ? gb[i] * w[c0 + i / sh.s] : gb[i];
      sgw += gw;
      sgwx += static_cast<double>(gw) * (xb[i] - mu);
    }
    sgw = grp.allreduce(sgw, add);
    sgwx = grp.allreduce(sgwx, add);
    const T B = static_cast<T>(-r * r * r * sgwx / K), Kc = static_cast<T>(-r * sgw / K);
    for (int64_t i = grp.rank; i < K; i += grp.size) {
      const T A = w != nullptr ? r * w[c0 + i / sh.s] : r;
      dx[ng * K + i] = A * gb[i] + B * (xb[i] - mu) + Kc;
    }
  }
}

template <typename T>
__global__ void backward_affine(GroupNormShape sh, const T* g, const T* x, const T* mean,
                                const T* rstd, T* dw, T* db) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  const int64_t C = sh.c, S = sh.s, G = sh.groups, Cg = C / G, M = sh.n * S;
  auto add = [](double a, double c) { return a + c; };
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double sw = 0, sb = 0;
    for (int64_t i = grp.rank; i < M; i += grp.size) {
      const int64_t n = i / S, o = (n * C + c) * S + (i - n * S), ng = n * G + c / Cg;
      sw += static_cast<double>(g[o]) * ((x[o] - mean[ng]) * rstd[ng]);
      sb += g[o];
    }
    sw = grp.allreduce(sw, add);
    sb = grp.allreduce(sb, add);
    if (grp.rank == 0) {
      if (dw != nullptr) dw[c] = static_cast<T>(sw);
      if (db != nullptr) db[c] = static_cast<T>(sb);
    }
  }
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>("group_norm", "no kernel for ", dtype);
  }
}

}  // namespace

void launch_group_norm_forward(DType dtype, const GroupNormShape& s, void* y, void* mean,
                               void* rstd, const void* x, const void* weight, const void* bias) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const LaunchConfig cfg{"group_norm_forward", dim3(grid_for(s.n * s.groups, 1)), dim3(kThreads)};
    launch(cfg, &forward_groups<T>, s, static_cast<const T*>(x), static_cast<const T*>(weight),
           static_cast<const T*>(bias), static_cast<T*>(y), static_cast<T*>(mean),
           static_cast<T*>(rstd));
  });
}

void launch_group_norm_backward(DType dtype, const GroupNormShape& s,
                                const GroupNormBackwardPtrs& p) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto *g = static_cast<const T*>(p.dy), *x = static_cast<const T*>(p.x),
               *mean = static_cast<const T*>(p.mean), *rstd = static_cast<const T*>(p.rstd);
    if (p.dx != nullptr) {
      const LaunchConfig cfg{"group_norm_backward_input", dim3(grid_for(s.n * s.groups, 1)),
                             dim3(kThreads)};
      launch(cfg, &backward_input<T>, s, g, x, mean, rstd, static_cast<const T*>(p.weight),
             static_cast<T*>(p.dx));
    }
    if (p.dweight != nullptr || p.dbias != nullptr) {
      const LaunchConfig cfg{"group_norm_backward_affine", dim3(grid_for(s.c, 1)), dim3(kThreads)};
      launch(cfg, &backward_affine<T>, s, g, x, mean, rstd, static_cast<T*>(p.dweight),
             static_cast<T*>(p.dbias));
    }
  });
}

}  // namespace ember::EMBER_VARIANT
