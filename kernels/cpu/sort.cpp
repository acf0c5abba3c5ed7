// Sorting and multinomial sampling on the cpu device.
//
// sort:  each row of in (R, N) -> values (R, N), indices (R, N) i64: std::stable_sort of
//        the column numbers with a NaN-aware comparator (NaN after every number ascending,
//        before descending; equal keys keep their column order), then a gather. bf16/f16
//        compare as floats (exact), so they order as torch's.
// multinomial: rows of weights probs (R, C) -> out (R, S) i64 by kernels/multinomial_draw.h.
// Split:  OpenMP threads over rows (one row is serial).
// Cost:   sort O(R N log N) compares, bytes (R N) (sizeof(T) + 2 sizeof(T) + 8);
//         multinomial O(R (C + S log C)) with replacement, O(R S C) without.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/loops.h"
#include "kernels/multinomial_draw.h"

namespace ember::cpu {

namespace {

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

template <typename T>
void sort_rows(int64_t R, int64_t N, bool descending, const T* in, T* values, int64_t* indices) {
  const bool parallel = R * N >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    const T* row = in + r * N;
    int64_t* idx = indices + r * N;
    std::iota(idx, idx + N, int64_t{0});
    // The keys: the values themselves, or a 16-bit row widened to float once.
    std::vector<opmath_t<T>> wide;
    const opmath_t<T>* x = nullptr;
    if constexpr (is_half_v<T>) {
      wide.assign(row, row + N);
      x = wide.data();
    } else {
      x = row;
    }
    // a before b: strictly smaller (ascending) or larger (descending), NaN the largest.
    auto ascending = [x](int64_t a, int64_t b) {
      return !is_nan(x[a]) && (is_nan(x[b]) || x[a] < x[b]);
    };
    auto descend = [x](int64_t a, int64_t b) {
      return !is_nan(x[b]) && (is_nan(x[a]) || x[a] > x[b]);
    };
    if (descending) {
      std::stable_sort(idx, idx + N, descend);
    } else {
      std::stable_sort(idx, idx + N, ascending);
    }
    T* v = values + r * N;
    for (int64_t j = 0; j < N; ++j) v[j] = row[idx[j]];
  }
}

template <typename T>
void multinomial_rows(int64_t R, int64_t C, int64_t S, bool replacement, const T* probs,
                      double* work, int64_t* out, uint64_t seed, uint64_t offset) {
  const bool parallel = R * (C + S) >= kParallelGrain && R > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < R; ++r) {
    const T* p = probs + r * C;
    double* w = work + r * C;
    int64_t* o = out + r * S;
    if (replacement) {
      double acc = 0.0;
      for (int64_t c = 0; c < C; ++c) w[c] = acc += static_cast<double>(p[c]);
      for (int64_t s = 0; s < S; ++s)
        o[s] = sampling::draw_from_cdf(w, C, sampling::sample_uniform(seed, offset, r, S, s));
    } else {
      for (int64_t c = 0; c < C; ++c) w[c] = static_cast<double>(p[c]);
      for (int64_t s = 0; s < S; ++s)
        o[s] = sampling::draw_remaining(w, C, sampling::sample_uniform(seed, offset, r, S, s));
    }
  }
}

template <typename T>
void multinomial_typed(const Tensor& out, const Tensor& probs, const Tensor& workspace,
                       bool replacement, uint64_t seed, uint64_t offset) {
  multinomial_rows<T>(probs.size(0), probs.size(1), out.size(1), replacement,
                      static_cast<const T*>(probs.raw_data()),
                      static_cast<double*>(workspace.raw_data()),
                      static_cast<int64_t*>(out.raw_data()), seed, offset);
}

template <typename T>
void sort_typed(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending) {
  sort_rows<T>(in.size(0), in.size(1), descending, static_cast<const T*>(in.raw_data()),
               static_cast<T*>(values.raw_data()), static_cast<int64_t*>(indices.raw_data()));
}

}  // namespace

void CpuBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in,
                      bool descending) {
  switch (in.dtype()) {
    case DType::f32: return sort_typed<float>(values, indices, in, descending);
    case DType::f64: return sort_typed<double>(values, indices, in, descending);
    case DType::i64: return sort_typed<int64_t>(values, indices, in, descending);
    case DType::bf16: return sort_typed<bf16>(values, indices, in, descending);  // issue 16
    case DType::f16: return sort_typed<f16>(values, indices, in, descending);
    case DType::b8: break;
    default: break;  // the dtypes of issue 16 have no kernel here
  }
  fail<InternalError>("sort", "no cpu kernel for ", in.dtype());
}

void CpuBackend::multinomial(const Tensor& out, const Tensor& probs, const Tensor& workspace,
                             bool replacement, uint64_t seed, uint64_t offset) {
  switch (probs.dtype()) {
    case DType::f32:
      return multinomial_typed<float>(out, probs, workspace, replacement, seed, offset);
    case DType::f64:
      return multinomial_typed<double>(out, probs, workspace, replacement, seed, offset);
    case DType::bf16:  // issue 16: the weights widened to f64 as for f32
      return multinomial_typed<bf16>(out, probs, workspace, replacement, seed, offset);
    case DType::f16:
      return multinomial_typed<f16>(out, probs, workspace, replacement, seed, offset);
    case DType::i64:
    case DType::b8: break;
    default: break;  // the dtypes of issue 16 have no kernel here
  }
  fail<InternalError>("multinomial", "no cpu kernel for ", probs.dtype());
}

}  // namespace ember::cpu
