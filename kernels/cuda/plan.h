// Host side of elementwise launches: from tensors to Geometry (kernels/cuda/geometry.h).
//
// plan() drops size-1 dims and merges neighbouring dims that are contiguous for every
// operand, as the cpu backend's loops do. for_each_chunk() hands out launches of at
// most kMaxDims dims: deeper layouts are split over their outer dims, one launch per
// outer position, with each operand's base pointer moved accordingly.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/cuda/geometry.h"
#include "tensor/tensor.h"

namespace ember::EMBER_VARIANT {

template <int N>
struct Plan {
  std::vector<int64_t> sizes;                   // outermost first
  std::array<std::vector<int64_t>, N> strides;  // in elements
  std::array<char*, N> base{};
  std::array<int64_t, N> element_size{};
  int64_t numel = 1;

  bool contiguous() const {
    if (sizes.size() != 1) return false;
    for (int k = 0; k < N; ++k)
      if (strides[k][0] != 1) return false;
    return true;
  }
};

// Operands iterated over `shape` (each indexed through its own strides). merge=false
// keeps every dim (for kernels that need the original dims, such as gather's).
template <int N>
Plan<N> plan(const Shape& shape, const std::array<const Tensor*, N>& ops, bool merge = true) {
  Plan<N> p;
  for (int k = 0; k < N; ++k) {
    p.base[k] = static_cast<char*>(ops[k]->raw_data());
    p.element_size[k] = static_cast<int64_t>(ops[k]->element_size());
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    p.numel *= shape[d];
    if (shape[d] == 1 && merge) continue;
    bool mergeable = merge && !p.sizes.empty();
    for (int k = 0; mergeable && k < N; ++k)
      mergeable = p.strides[k].back() == ops[k]->strides()[d] * shape[d];
    if (mergeable) {
      p.sizes.back() *= shape[d];
      for (int k = 0; k < N; ++k) p.strides[k].back() = ops[k]->strides()[d];
    } else {
      p.sizes.push_back(shape[d]);
      for (int k = 0; k < N; ++k) p.strides[k].push_back(ops[k]->strides()[d]);
    }
  }
  if (p.sizes.empty()) {  // 0-dim or all size 1: one element
    p.sizes.push_back(1);
    for (int k = 0; k < N; ++k) p.strides[k].push_back(1);
  }
  return p;
}

template <int N>
Plan<N> plan(const std::array<const Tensor*, N>& ops) {
  return plan<N>(ops[0]->sizes(), ops);
}

// launch(geometry, contiguous, pointers) for each chunk of at most kMaxDims dims.
template <int N, typename F>
void for_each_chunk(const Plan<N>& p, F launch) {
  const auto nd = static_cast<int>(p.sizes.size());
  const int outer = nd > kMaxDims ? nd - kMaxDims : 0;
  Geometry<N> g{};
  g.ndim = nd - outer;
  g.numel = 1;
  for (int d = 0; d < g.ndim; ++d) {
    g.sizes[d] = p.sizes[outer + d];
    g.numel *= g.sizes[d];
    for (int k = 0; k < N; ++k) g.strides[k][d] = p.strides[k][outer + d];
  }
  const bool contiguous = p.contiguous();
  std::vector<int64_t> pos(outer, 0);
  for (;;) {
    std::array<char*, N> ptr = p.base;
    for (int d = 0; d < outer; ++d)
      for (int k = 0; k < N; ++k) ptr[k] += pos[d] * p.strides[k][d] * p.element_size[k];
    launch(g, contiguous, ptr);
    int d = outer - 1;
    for (; d >= 0; --d) {
      if (++pos[d] < p.sizes[d]) break;
      pos[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace ember::EMBER_VARIANT
