// Row reductions: sum, prod, mean, var, max and min (with the first index of the extreme).
//
// Math:   out[r] = op(in[r, 0..K)); var = sum((x - mean)^2) / max(K - correction, 0),
//         two passes over the row (mean first), as the cpu backend does. max/min
//         propagate NaN (the first NaN wins) and break ties by the lowest index.
// Shapes: in (R, K) contiguous -> out (R) contiguous, indices (R) i64 or null.
// Split:  K <= 1024: one row per warp, 8 warps (256 threads) per block; K > 1024: one
//         row per block of 512 threads. Both loop over rows grid-stride. Each thread
//         folds a strided slice of the row (coalesced: lane j reads j, j+32, ...), then
//         the group combines through __shfl_xor_sync (and shared memory across warps).
// Cost:   FLOPs = R*K (2*R*K for var); bytes = R*K*sizeof(T) (twice for var) +
//         R*sizeof(T) (+ 8*R with indices).
// Accumulators: floating sums and products in f64 (like the cpu backend; bf16 and f16
//         too, rounded once at the end), integer ones
//         in u64 (wrapping, so any order gives the cpu's result), max/min in T.
// Pre:    K == 0 only for sum/prod/mean/var (sum 0, prod 1, mean and var NaN).
// Version: one row per block means a single long row (a full sum) uses one
//         multiprocessor; a split-K pass is the next step when that matters.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/reduce.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kWarpRowsMaxK = 1024;
constexpr int kWarpThreads = 256;
constexpr int kBlockThreads = 512;

template <typename T>
using sum_t =
    std::conditional_t<std::is_floating_point_v<T> || is_half_v<T>, double, unsigned long long>;

// What max/min carry: the value (bool widened to int and bf16/f16 to float, which
// shuffle) and its index;
// index -1 marks "no element yet". Trivial, so it can live in shared memory.
template <typename T>
struct Arg {
  std::conditional_t<std::is_same_v<T, bool>, int, opmath_t<T>> v;
  long long i;
};

template <typename T>
EMBER_DEVICE Arg<T> shfl_xor(Arg<T> a, int offset) {
  return {::ember::EMBER_VARIANT::shfl_xor(a.v, offset),
          ::ember::EMBER_VARIANT::shfl_xor(a.i, offset)};
}

template <typename T, bool IsMax>
EMBER_DEVICE Arg<T> arg_merge(Arg<T> a, Arg<T> b) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = is_nan(a.v), bn = is_nan(b.v);
  if (an || bn) {
    if (an && bn) return a.i < b.i ? a : b;
    return an ? a : b;
  }
  if (IsMax ? b.v > a.v : b.v < a.v) return b;
  if (IsMax ? a.v > b.v : a.v < b.v) return a;
  return a.i < b.i ? a : b;
}

template <typename T, bool IsMax, typename Group>
EMBER_DEVICE void reduce_arg_row(const Group& grp, const T* x, int64_t K, T* out, int64_t* index) {
  Arg<T> best{0, -1};
  for (int64_t k = grp.rank; k < K; k += grp.size)
    best = arg_merge<T, IsMax>(best, Arg<T>{static_cast<opmath_t<T>>(x[k]), k});
  best = grp.allreduce(best, [](Arg<T> a, Arg<T> b) { return arg_merge<T, IsMax>(a, b); });
  if (grp.rank == 0) {
    *out = static_cast<T>(best.v);
    if (index != nullptr) *index = best.i;
  }
}

template <typename T, typename Group>
EMBER_DEVICE void reduce_row(ReduceOp op, const Group& grp, const T* x, int64_t K,
                             int64_t correction, T* out, int64_t* index) {
  if (op == ReduceOp::max) return reduce_arg_row<T, true>(grp, x, K, out, index);
  if (op == ReduceOp::min) return reduce_arg_row<T, false>(grp, x, K, out, index);
  if constexpr (!std::is_same_v<T, bool>) {  // sums of bool arrive as i64
    using A = sum_t<T>;
    if (op == ReduceOp::prod) {
      A p = 1;
      for (int64_t k = grp.rank; k < K; k += grp.size) p *= static_cast<A>(x[k]);
      p = grp.allreduce(p, [](A a, A b) { return a * b; });
      if (grp.rank == 0) *out = static_cast<T>(p);
      return;
    }
    A s = 0;
    for (int64_t k = grp.rank; k < K; k += grp.size) s += static_cast<A>(x[k]);
    s = grp.allreduce(s, [](A a, A b) { return a + b; });
    if (op == ReduceOp::sum) {
      if (grp.rank == 0) *out = static_cast<T>(s);
      return;
    }
    const double mean = static_cast<double>(s) / static_cast<double>(K);
    if (op == ReduceOp::mean) {
      if (grp.rank == 0) *out = static_cast<T>(mean);
      return;
    }
    double ss = 0;  // var
    for (int64_t k = grp.rank; k < K; k += grp.size) {
      const double d = static_cast<double>(x[k]) - mean;
      ss += d * d;
    }
    ss = grp.allreduce(ss, [](double a, double b) { return a + b; });
    const int64_t dof = K - correction > 0 ? K - correction : 0;
    if (grp.rank == 0) *out = static_cast<T>(ss / static_cast<double>(dof));
  }
}

template <typename T>
__global__ void reduce_warp_rows(ReduceOp op, T* out, int64_t* indices, const T* in, int64_t R,
                                 int64_t K, int64_t correction) {
  const int warps = static_cast<int>(blockDim.x / 32);
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32; r < R;
       r += static_cast<int64_t>(gridDim.x) * warps)
    reduce_row(op, grp, in + r * K, K, correction, out + r,
               indices != nullptr ? indices + r : nullptr);
}

template <typename T>
__global__ void reduce_block_rows(ReduceOp op, T* out, int64_t* indices, const T* in, int64_t R,
                                  int64_t K, int64_t correction) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x)
    reduce_row(op, grp, in + r * K, K, correction, out + r,
               indices != nullptr ? indices + r : nullptr);
}

}  // namespace

void launch_reduce(ReduceOp op, DType dtype, void* out, int64_t* indices, const void* in,
                   int64_t rows, int64_t cols, int64_t correction) {
  dispatch_with_halves(dtype, to_string(op), [&](auto tag) {
    using T = decltype(tag);
    if (std::is_same_v<T, bool> && op != ReduceOp::max && op != ReduceOp::min)
      fail<InternalError>(to_string(op), "no kernel for bool (the op layer reduces bool as i64)");
    auto* po = static_cast<T*>(out);
    const auto* pi = static_cast<const T*>(in);
    if (cols <= kWarpRowsMaxK) {
      const LaunchConfig cfg{"reduce_warp_rows", dim3(grid_for(rows, kWarpThreads / 32)),
                             dim3(kWarpThreads)};
      launch(cfg, &reduce_warp_rows<T>, op, po, indices, pi, rows, cols, correction);
    } else {
      const LaunchConfig cfg{"reduce_block_rows", dim3(grid_for(rows, 1)), dim3(kBlockThreads)};
      launch(cfg, &reduce_block_rows<T>, op, po, indices, pi, rows, cols, correction);
    }
  });
}

}  // namespace ember::EMBER_VARIANT
