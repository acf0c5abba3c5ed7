// Strided loops for the CPU backend: N operands of one shape, any strides.
//
// plan_loop() drops size-1 dims and merges neighbouring dims that are contiguous for
// every operand, so a contiguous or simply broadcast op becomes one long row.
// run_loop() splits the elements over OpenMP threads (when there are enough of them)
// and calls `row(ptrs, inner_strides, n)` for each run of n elements along the
// innermost dim; kernels write a tight loop there, with a unit-stride fast path.
#pragma once

#include <omp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace ember::cpu {

// Below this many elements an op runs on one thread: forking costs more than it saves.
inline constexpr int64_t kParallelGrain = 32768;

// A short list of dims that lives inside the plan: up to kInline entries without
// touching the heap (a small op's whole plan is built on the stack), more on the heap.
class DimVec {
 public:
  static constexpr size_t kInline = 8;
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t* data() { return heap_.empty() ? inline_.data() : heap_.data(); }
  const int64_t* data() const { return heap_.empty() ? inline_.data() : heap_.data(); }
  int64_t& operator[](size_t i) { return data()[i]; }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t& back() { return data()[n_ - 1]; }
  int64_t back() const { return data()[n_ - 1]; }
  void push_back(int64_t v) {
    if (heap_.empty() && n_ < kInline) {
      inline_[n_++] = v;
      return;
    }
    if (heap_.empty())
      heap_.assign(inline_.begin(), inline_.begin() + static_cast<std::ptrdiff_t>(n_));
    heap_.push_back(v);
    ++n_;
  }
  // n zeros.
  static DimVec zeros(size_t n) {
    DimVec v;
    for (size_t i = 0; i < n; ++i) v.push_back(0);
    return v;
  }

 private:
  std::array<int64_t, kInline> inline_{};
  std::vector<int64_t> heap_;
  size_t n_ = 0;
};

template <int N>
struct LoopPlan {
  DimVec sizes;                   // coalesced, innermost last
  std::array<DimVec, N> strides;  // in bytes, per operand
  std::array<char*, N> base{};
  int64_t numel = 1;
};

template <int N>
LoopPlan<N> plan_loop(const std::array<const Tensor*, N>& ops) {
  LoopPlan<N> p;
  const Shape& shape = ops[0]->sizes();
  for (int k = 0; k < N; ++k) p.base[k] = static_cast<char*>(ops[k]->raw_data());
  // The common case first: every operand contiguous with the output's shape is one run.
  bool flat = ops[0]->is_contiguous();
  for (int k = 1; flat && k < N; ++k) flat = ops[k]->sizes() == shape && ops[k]->is_contiguous();
  if (flat) {
    p.numel = numel(shape);
    p.sizes.push_back(p.numel);
    for (int k = 0; k < N; ++k)
      p.strides[k].push_back(static_cast<int64_t>(ops[k]->element_size()));
    return p;
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    p.numel *= shape[d];
    if (shape[d] == 1) continue;
    bool merge = !p.sizes.empty();
    for (int k = 0; merge && k < N; ++k) {
      auto es = static_cast<int64_t>(ops[k]->element_size());
      merge = p.strides[k].back() == ops[k]->strides()[d] * es * shape[d];
    }
    if (merge) {
      p.sizes.back() *= shape[d];
      for (int k = 0; k < N; ++k) {
        p.strides[k].back() = ops[k]->strides()[d] * static_cast<int64_t>(ops[k]->element_size());
      }
    } else {
      p.sizes.push_back(shape[d]);
      for (int k = 0; k < N; ++k)
        p.strides[k].push_back(ops[k]->strides()[d] * static_cast<int64_t>(ops[k]->element_size()));
    }
  }
  if (p.sizes.empty()) {  // 0-dim or all size-1: one element
    p.sizes.push_back(1);
    for (int k = 0; k < N; ++k) p.strides[k].push_back(0);
  }
  return p;
}

// Elements [begin, end) in row-major order, one inner run at a time.
template <int N, typename Row>
void run_range(const LoopPlan<N>& p, int64_t begin, int64_t end, Row& row) {
  const auto nd = static_cast<int64_t>(p.sizes.size());
  if (nd == 1) {  // one run (a contiguous or simply broadcast op): no index bookkeeping
    std::array<char*, N> ptr;
    std::array<int64_t, N> inner;
    for (int k = 0; k < N; ++k) {
      inner[k] = p.strides[k][0];
      ptr[k] = p.base[k] + begin * inner[k];
    }
    row(ptr, inner, end - begin);
    return;
  }
  DimVec idx = DimVec::zeros(static_cast<size_t>(nd));
  int64_t rem = begin;
  for (int64_t d = nd - 1; d >= 0; --d) {
    idx[d] = rem % p.sizes[d];
    rem /= p.sizes[d];
  }
  std::array<int64_t, N> inner, outer;  // strides of the last two dims
  for (int k = 0; k < N; ++k) {
    inner[k] = p.strides[k][nd - 1];
    outer[k] = p.strides[k][nd - 2];
  }
  const int64_t cols = p.sizes[nd - 1], rows = p.sizes[nd - 2];
  int64_t pos = begin;
  while (pos < end) {
    // The start of the current row from the full index, once per sweep of the rows of
    // dim nd - 2; within a sweep a row's start is the last one's plus `outer` (short runs,
    // as a copy of attention heads' 32-element rows makes, spent more time on the index
    // arithmetic than on the elements).
    std::array<char*, N> row_start;
    for (int k = 0; k < N; ++k) {
      row_start[k] = p.base[k];
      for (int64_t d = 0; d < nd - 1; ++d) row_start[k] += idx[d] * p.strides[k][d];
    }
    while (true) {
      std::array<char*, N> ptr;
      for (int k = 0; k < N; ++k) ptr[k] = row_start[k] + idx[nd - 1] * inner[k];
      const int64_t n = std::min(cols - idx[nd - 1], end - pos);
      row(ptr, inner, n);
      pos += n;
      idx[nd - 1] += n;
      if (pos >= end) return;
      // The run ended at the row's end (it ends early only at `end`): next row.
      idx[nd - 1] = 0;
      if (++idx[nd - 2] == rows) break;
      for (int k = 0; k < N; ++k) row_start[k] += outer[k];
    }
    idx[nd - 2] = 0;
    for (int64_t d = nd - 2; d > 0 && idx[d] == 0; --d) {
      if (++idx[d - 1] < p.sizes[d - 1]) break;
      idx[d - 1] = 0;
    }
  }
}

template <int N, typename Row>
void run_loop(const LoopPlan<N>& p, Row&& row) {
  if (p.numel < kParallelGrain || omp_get_max_threads() == 1 || omp_in_parallel()) {
    run_range(p, 0, p.numel, row);
    return;
  }
#pragma omp parallel
  {
    int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t begin = p.numel * t / nt, end = p.numel * (t + 1) / nt;
    if (begin < end) run_range(p, begin, end, row);
  }
}

// True when every operand steps by exactly its element size along the inner run.
template <typename... Ts, size_t N>
bool unit_stride(const std::array<int64_t, N>& inner) {
  static_assert(sizeof...(Ts) == N, "one type per operand");
  constexpr std::array<int64_t, N> sizes{static_cast<int64_t>(sizeof(Ts))...};
  for (size_t k = 0; k < N; ++k)
    if (inner[k] != sizes[k]) return false;
  return true;
}

}  // namespace ember::cpu
