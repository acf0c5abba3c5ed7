// Batch normalization per channel of x (N, C, S), forward and backward.
//
// Math:   per channel c over its n = N*S values: training: mean = sum x / n, var =
//         sum (x - mean)^2 / n (biased, two passes), invstd = 1 / sqrt(var + eps), and the
//         running statistics r <- (1 - f) r + f stat (the variance unbiased, var n/(n-1);
//         f = momentum, or 1 / num_batches_tracked read on the device); eval: mean and
//         invstd from running_mean and running_var. y = (x - mean) invstd w + b.
//         Backward, A = w invstd: training dx = A (g - sum g / n) - A invstd^2 (x - mean)
//         sum g (x - mean) / n; eval dx = A g; dw = invstd sum g (x - mean), db = sum g.
//         Sums accumulate in double for f32 too (as on the cpu): one accumulator per
//         thread, so FP64's lower rate does not bound a kernel bound by memory, and a sum
//         over a large channel (50 K values) keeps f32's relative accuracy.
// Shapes: x (N, C, S) contiguous; weight, bias, running stats, mean, invstd (C).
// Split:  one block of 256 threads per channel (grid-stride over channels), its threads
//         striding over the channel's N*S values (S contiguous runs of N strips), block
//         reductions through BlockGroup; thread 0 writes the channel's statistics, its
//         running update and dw, db (no atomics: deterministic).
// Cost:   forward ~8 FLOPs per element, bytes 3 reads (the second and third from cache
//         when a channel fits) + 1 write of x's size; backward ~8 FLOPs per element,
//         bytes 2 reads of g and x (+1 in training) and 1 write.
// Pre:    N*S >= 2 in training (the op layer checks); C >= 1.
#include "kernels/cuda/batch_norm.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;

// The element i in [0, N*S) of channel c.
EMBER_DEVICE int64_t channel_at(int64_t i, int64_t c, int64_t C, int64_t S) {
  const int64_t n = i / S;
  return (n * C + c) * S + (i - n * S);
}

template <typename T>
__global__ void forward_channels(BatchNormShape sh, const T* x, const T* w, const T* b, T* y,
                                 T* mean, T* invstd, T* rm, T* rv, const int64_t* nbt) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  const int64_t C = sh.c, S = sh.s, M = sh.n * sh.s;
  auto add = [](double a, double c) { return a + c; };
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    T mu, inv;
    if (sh.training) {
      double s = 0;
      for (int64_t i = grp.rank; i < M; i += grp.size) s += x[channel_at(i, c, C, S)];
      const double mean_d = grp.allreduce(s, add) / static_cast<double>(M);
      double v = 0;
      for (int64_t i = grp.rank; i < M; i += grp.size) {
        const double d = x[channel_at(i, c, C, S)] - mean_d;
        v += d * d;
      }
      const double var = grp.allreduce(v, add) / static_cast<double>(M);
      mu = static_cast<T>(mean_d);
      inv = static_cast<T>(1.0 / d_sqrt(var + sh.eps));
      if (grp.rank == 0 && rm != nullptr) {
        const double f = nbt != nullptr ? 1.0 / static_cast<double>(*nbt) : sh.momentum;
        rm[c] = static_cast<T>((1.0 - f) * rm[c] + f * mean_d);
        rv[c] = static_cast<T>((1.0 - f) * rv[c] + f * var * M / (M - 1.0));
      }
    } else {
      mu = rm[c];
      inv = T(1) / d_sqrt(rv[c] + static_cast<T>(sh.eps));
    }
    if (grp.rank == 0) {
      mean[c] = mu;
      invstd[c] = inv;
    }
    const T scale = w != nullptr ? inv * w[c] : inv;
    const T shift = b != nullptr ? b[c] : T(0);
    for (int64_t i = grp.rank; i < M; i += grp.size) {
      const int64_t o = channel_at(i, c, C, S);
      y[o] = (x[o] - mu) * scale + shift;
    }
  }
}

template <typename T>
__global__ void backward_channels(BatchNormShape sh, const T* g, const T* x, const T* mean,
                                  const T* invstd, const T* w, T* dx, T* dw, T* db) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  const int64_t C = sh.c, S = sh.s, M = sh.n * sh.s;
  const bool sums = dw != nullptr || db != nullptr || (dx != nullptr && sh.training);
  auto add = [](double a, double c) { return a + c; };
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const T mu = mean[c], inv = invstd[c];
    double sg = 0, sgx = 0;  // sum g, sum g (x - mean)
    if (sums) {
      for (int64_t i = grp.rank; i < M; i += grp.size) {
        const int64_t o = channel_at(i, c, C, S);
        sg += g[o];
        sgx += static_cast<double>(g[o]) * (x[o] - mu);
      }
      sg = grp.allreduce(sg, add);
      sgx = grp.allreduce(sgx, add);
    }
    if (grp.rank == 0) {
      if (dw != nullptr) dw[c] = static_cast<T>(sgx * inv);
      if (db != nullptr) db[c] = static_cast<T>(sg);
    }
    if (dx == nullptr) continue;
    const T A = w != nullptr ? w[c] * inv : inv;
    const T B = sh.training ? static_cast<T>(-A * inv * inv * sgx / M) : T(0);
    const T K = sh.training ? static_cast<T>(-A * sg / M) : T(0);
    for (int64_t i = grp.rank; i < M; i += grp.size) {
      const int64_t o = channel_at(i, c, C, S);
      dx[o] = A * g[o] + B * (x[o] - mu) + K;
    }
  }
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>("batch_norm", "no kernel for ", dtype);
  }
}

}  // namespace

void launch_batch_norm_forward(DType dtype, const BatchNormShape& s,
                               const BatchNormForwardPtrs& p) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const LaunchConfig cfg{"batch_norm_forward", dim3(grid_for(s.c, 1)), dim3(kThreads)};
    launch(cfg, &forward_channels<T>, s, static_cast<const T*>(p.x),
           static_cast<const T*>(p.weight), static_cast<const T*>(p.bias), static_cast<T*>(p.y),
           static_cast<T*>(p.mean), static_cast<T*>(p.invstd), static_cast<T*>(p.running_mean),
           static_cast<T*>(p.running_var), p.num_batches_tracked);
  });
}

void launch_batch_norm_backward(DType dtype, const BatchNormShape& s,
                                const BatchNormBackwardPtrs& p) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const LaunchConfig cfg{"batch_norm_backward", dim3(grid_for(s.c, 1)), dim3(kThreads)};
    launch(cfg, &backward_channels<T>, s, static_cast<const T*>(p.dy), static_cast<const T*>(p.x),
           static_cast<const T*>(p.mean), static_cast<const T*>(p.invstd),
           static_cast<const T*>(p.weight), static_cast<T*>(p.dx), static_cast<T*>(p.dweight),
           static_cast<T*>(p.dbias));
  });
}

}  // namespace ember::EMBER_VARIANT
