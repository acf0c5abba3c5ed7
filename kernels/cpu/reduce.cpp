// Row reductions of the cpu backend: in (R, K) contiguous -> out (R).
// Floating sums accumulate in f64, so an f32 sum of 1e7 elements stays exact to f32
// precision; var is two-pass (mean, then squared deviations) for stability.
#include <omp.h>

#include <cmath>
#include <type_traits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/loops.h"

namespace ember::cpu {

namespace {

template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <typename T>
void reduce_rows(ReduceOp op, T* out, int64_t* indices, const T* in, int64_t R, int64_t K,
                 int64_t correction) {
  // Only a single long row gets split inside; otherwise whole rows go to threads.
  auto row = [&](int64_t r) {
    const T* x = in + r * K;
    switch (op) {
      case ReduceOp::sum:
      case ReduceOp::mean: {
        acc_t<T> s = 0;
        for (int64_t k = 0; k < K; ++k) s += x[k];
        if (op == ReduceOp::mean) {
          out[r] = static_cast<T>(static_cast<double>(s) / static_cast<double>(K));
        } else {
          out[r] = static_cast<T>(s);
        }
        break;
      }
      case ReduceOp::prod: {
        acc_t<T> s = 1;
        for (int64_t k = 0; k < K; ++k) s *= x[k];
        out[r] = static_cast<T>(s);
        break;
      }
      case ReduceOp::var: {
        double mean = 0;
        for (int64_t k = 0; k < K; ++k) mean += static_cast<double>(x[k]);
        mean /= static_cast<double>(K);
        double ss = 0;
        for (int64_t k = 0; k < K; ++k) {
          double d = static_cast<double>(x[k]) - mean;
          ss += d * d;
        }
        out[r] = static_cast<T>(ss / static_cast<double>(std::max<int64_t>(K - correction, 0)));
        break;
      }
      case ReduceOp::max:
      case ReduceOp::min: {
        const bool is_max = op == ReduceOp::max;
        T best = x[0];
        int64_t arg = 0;
        for (int64_t k = 1; k < K; ++k) {
          T v = x[k];
          if constexpr (std::is_floating_point_v<T>) {
            if (std::isnan(best)) break;  // NaN wins and stays
            if (std::isnan(v)) {
              best = v;
              arg = k;
              break;
            }
          }
          if (is_max ? v > best : v < best) {
            best = v;
            arg = k;
          }
        }
        out[r] = best;
        if (indices) indices[r] = arg;
        break;
      }
    }
  };
  bool parallel = R * K >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) row(r);
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
                        int64_t correction) {
  const int64_t R = in.size(0), K = in.size(1);
  EMBER_DISPATCH(in.dtype(), to_string(op), [&](auto tag) {
    using T = decltype(tag);
    int64_t* idx = indices.defined() ? static_cast<int64_t*>(indices.raw_data()) : nullptr;
    reduce_rows<T>(op, static_cast<T*>(out.raw_data()), idx, static_cast<const T*>(in.raw_data()),
                   R, K, correction);
  });
}

}  // namespace ember::cpu
