// The shape of an elementwise launch: N operands of one logical shape, each with its own
// strides (0 along broadcast dims). Passed to kernels by value; host code builds it from
// tensors after merging dims that are contiguous for every operand, so most ops reach
// the kernel with one or two dims.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"

namespace ember::EMBER_VARIANT {

inline constexpr int kMaxDims = 8;

template <int N>
struct Geometry {
  int ndim;  // 1..kMaxDims
  int64_t numel;
  int64_t sizes[kMaxDims];       // outermost first
  int64_t strides[N][kMaxDims];  // in elements
};

}  // namespace ember::EMBER_VARIANT
