// Embedding lookup and its gradient on the cpu device: the forward copies rows (split over
// OpenMP threads); the backward adds gradient rows into the table in increasing index
// position, so sums are the same every run (threads split the embedding dim, never m).
// bf16/f16 gradients (issue 16) accumulate in an f32 table rounded once at the end, as
// torch's CUDA backward does (its cpu one rounds after every add).
#include <omp.h>

#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/half_rows.h"
#include "kernels/cpu/loops.h"

namespace ember::cpu {

namespace {

void check_indices(const int64_t* idx, int64_t M, int64_t V) {
  for (int64_t m = 0; m < M; ++m)
    if (idx[m] < 0 || idx[m] >= V)
      fail<IndexError>("embedding", "index ", idx[m], " is out of range for ", V, " embeddings");
}

// gw (V, D) of the accumulation type A: T, or f32 for bf16/f16.
template <typename T, typename A>
void backward(int64_t M, int64_t V, int64_t D, int64_t pad, const int64_t* idx, const T* g, A* gw) {
  std::memset(gw, 0, static_cast<size_t>(V * D) * sizeof(A));
  const int64_t blocks = (D + 63) / 64;  // columns in blocks of 64
  const bool parallel = M * D >= kParallelGrain && blocks > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t lo = blk * 64, hi = lo + 64 < D ? lo + 64 : D;
    for (int64_t m = 0; m < M; ++m) {
      if (idx[m] == pad) continue;
      A* dst = gw + idx[m] * D;
      const T* src = g + m * D;
      for (int64_t d = lo; d < hi; ++d) dst[d] += static_cast<A>(src[d]);
    }
  }
}

template <typename T>
void backward_half(int64_t M, int64_t V, int64_t D, int64_t pad, const int64_t* idx,
                   const Tensor& grad_out, const Tensor& grad_weight) {
  std::vector<float> acc(static_cast<size_t>(V * D));  // (V, D)
  backward(M, V, D, pad, idx, static_cast<const T*>(grad_out.raw_data()), acc.data());
  narrow_row(acc.data(), static_cast<T*>(grad_weight.raw_data()), V * D);
}

}  // namespace

void CpuBackend::embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices) {
  const int64_t M = indices.numel(), V = weight.size(0), D = weight.size(1);
  const auto* idx = static_cast<const int64_t*>(indices.raw_data());
  check_indices(idx, M, V);
  const size_t row_bytes = static_cast<size_t>(D) * weight.element_size();
  const auto* src = static_cast<const char*>(weight.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  const bool parallel = M * D >= kParallelGrain && M > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t m = 0; m < M; ++m)
    std::memcpy(dst + static_cast<size_t>(m) * row_bytes,
                src + static_cast<size_t>(idx[m]) * row_bytes, row_bytes);
}

void CpuBackend::embedding_backward(const Tensor& grad_weight, const Tensor& grad_out,
                                    const Tensor& indices, int64_t padding_idx) {
  const FlushDenormals flush;
  const int64_t M = indices.numel(), V = grad_weight.size(0), D = grad_weight.size(1);
  const auto* idx = static_cast<const int64_t*>(indices.raw_data());
  check_indices(idx, M, V);
  switch (grad_weight.dtype()) {
    case DType::f32:
      return backward(M, V, D, padding_idx, idx, static_cast<const float*>(grad_out.raw_data()),
                      static_cast<float*>(grad_weight.raw_data()));
    case DType::f64:
      return backward(M, V, D, padding_idx, idx, static_cast<const double*>(grad_out.raw_data()),
                      static_cast<double*>(grad_weight.raw_data()));
    case DType::bf16: return backward_half<bf16>(M, V, D, padding_idx, idx, grad_out, grad_weight);
    case DType::f16: return backward_half<f16>(M, V, D, padding_idx, idx, grad_out, grad_weight);
    default: fail<InternalError>("embedding", "no cpu kernel for ", grad_weight.dtype());
  }
}

}  // namespace ember::cpu
