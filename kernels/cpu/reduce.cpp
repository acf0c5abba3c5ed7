// Row reductions of the cpu backend: in (R, K) contiguous -> out (R); sums and means also
// take in with columns contiguous (strides (1, R)).
// Floating sums accumulate in f64, so an f32 sum of 1e7 elements stays exact to f32
// precision; var is two-pass (mean, then squared deviations) for stability.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/widen.h"

namespace ember::cpu {

namespace {

template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Sum of x[0, n) with 32 independent accumulators, folded in a fixed order. The loop
// vectorizes into four vector registers of f64 (AVX-512): one register's chain of adds
// would wait on each add's latency and reach half of one core's share of the bandwidth.
template <typename T>
acc_t<T> sum_run(const T* __restrict x, int64_t n) {
  constexpr int kLanes = 32;
  acc_t<T> lane[kLanes] = {};
  const int64_t full = n / kLanes * kLanes;
  for (int64_t k = 0; k < full; k += kLanes)
    for (int j = 0; j < kLanes; ++j) lane[j] += static_cast<acc_t<T>>(x[k + j]);
  acc_t<T> s = 0;
  for (int j = 0; j < kLanes; ++j) s += lane[j];
  for (int64_t k = full; k < n; ++k) s += static_cast<acc_t<T>>(x[k]);
  return s;
}

// Sum of one row: blocks of kSumBlock elements summed (over threads when `parallel`), then
// the block sums added in order, so the result does not depend on the thread count.
constexpr int64_t kSumBlock = 1 << 16;

template <typename T>
acc_t<T> sum_row(const T* x, int64_t K, bool parallel) {
  if (K <= kSumBlock) return sum_run(x, K);
  const int64_t blocks = (K + kSumBlock - 1) / kSumBlock;
  std::vector<acc_t<T>> partial(static_cast<size_t>(blocks));
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t b = 0; b < blocks; ++b)
    partial[static_cast<size_t>(b)] =
        sum_run(x + b * kSumBlock, std::min(kSumBlock, K - b * kSumBlock));
  acc_t<T> s = 0;
  for (acc_t<T> v : partial) s += v;
  return s;
}

template <typename T>
void reduce_rows(ReduceOp op, T* out, int64_t* indices, const T* in, int64_t R, int64_t K,
                 int64_t correction) {
  // Whole rows go to threads when there are enough of them; otherwise a long row's sum
  // is split over the threads inside (sum_row).
  const bool big = R * K >= kParallelGrain && !omp_in_parallel();
  const bool rows_parallel = big && R >= omp_get_max_threads();
  // A sum reads each element once: memory-bound, so one long row is split only when it is
  // long enough for a second thread's bandwidth to pay for waking it (measured: 1.8 M
  // floats summed faster on one thread).
  const bool inner_parallel = big && !rows_parallel && K >= (int64_t{1} << 22);
  auto row = [&](int64_t r) {
    const T* x = in + r * K;
    switch (op) {
      case ReduceOp::sum:
      case ReduceOp::mean: {
        acc_t<T> s = sum_row(x, K, inner_parallel);
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
#pragma omp parallel for schedule(static) if (rows_parallel)
  for (int64_t r = 0; r < R; ++r) row(r);
}

// Sums (or means) down the columns of an (R, K) `in` stored columns contiguous: element
// (r, k) at k * R + r, a contiguous input whose leading dims are reduced (a bias gradient).
// Reading it in place, row after row, avoids the permuted copy. The K input rows are cut
// into fixed blocks of kColRows and the R outputs into chunks of kColChunk (whose f64
// accumulators stay in L1); each (block, chunk) task sums its rows into its own partial
// row, and the partial rows are added in block order, so the result does not depend on the
// thread count.
constexpr int64_t kColRows = 256;
constexpr int64_t kColChunk = 512;

template <typename T>
void sum_columns(ReduceOp op, T* out, const T* in, int64_t R, int64_t K) {
  using A = acc_t<T>;
  const int64_t blocks = std::max<int64_t>((K + kColRows - 1) / kColRows, 1);
  const int64_t chunks = (R + kColChunk - 1) / kColChunk;
  std::vector<A> partial(static_cast<size_t>(blocks * R));
  const bool parallel = R * K >= kParallelGrain && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t task = 0; task < blocks * chunks; ++task) {
    const int64_t b = task / chunks, c0 = task % chunks * kColChunk;
    const int64_t n = std::min(kColChunk, R - c0);
    A* __restrict acc = partial.data() + b * R + c0;
    std::fill(acc, acc + n, A{0});
    for (int64_t k = b * kColRows; k < std::min(K, (b + 1) * kColRows); ++k) {
      const T* __restrict x = in + k * R + c0;
      for (int64_t j = 0; j < n; ++j) acc[j] += static_cast<A>(x[j]);
    }
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t c0 = c * kColChunk, n = std::min(kColChunk, R - c0);
    A* __restrict acc = partial.data() + c0;
    for (int64_t b = 1; b < blocks; ++b) {
      const A* __restrict more = partial.data() + b * R + c0;
      for (int64_t j = 0; j < n; ++j) acc[j] += more[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      if (op == ReduceOp::mean) {
        out[c0 + j] = static_cast<T>(static_cast<double>(acc[j]) / static_cast<double>(K));
      } else {
        out[c0 + j] = static_cast<T>(acc[j]);
      }
    }
  }
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
                        int64_t correction) {
  const FlushDenormals flush;
  const int64_t R = in.size(0), K = in.size(1);
  if (is_half(in.dtype())) {  // accumulate in f32 and round once (issue 16)
    Tensor o = wide_output(out);
    reduce(op, o, indices, widened(*this, in), correction);
    if (!o.is_same(out)) copy(out, o);
    return;
  }
  // Columns contiguous (strides (1, R)): a sum or mean over the leading dims of a contiguous
  // input (raw::reduce, issue 19); other ops get the row layout they expect.
  if (R > 1 && K > 1 && in.stride(1) != 1) {
    if (op != ReduceOp::sum && op != ReduceOp::mean) {
      Tensor rows = raw::empty(in.sizes(), in.dtype(), in.device());
      copy(rows, in);
      reduce(op, out, indices, rows, correction);
      return;
    }
    EMBER_DISPATCH(in.dtype(), to_string(op), [&](auto tag) {
      using T = decltype(tag);
      sum_columns<T>(op, static_cast<T*>(out.raw_data()), static_cast<const T*>(in.raw_data()), R,
                     K);
    });
    return;
  }
  EMBER_DISPATCH(in.dtype(), to_string(op), [&](auto tag) {
    using T = decltype(tag);
    int64_t* idx = indices.defined() ? static_cast<int64_t*>(indices.raw_data()) : nullptr;
    reduce_rows<T>(op, static_cast<T*>(out.raw_data()), idx, static_cast<const T*>(in.raw_data()),
                   R, K, correction);
  });
}

}  // namespace ember::cpu
