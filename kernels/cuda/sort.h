// Launchers of kernels/cuda/sort.cu: stable sort of the rows of a matrix (sort, argsort,
// topk).
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct SortShape {
  int64_t rows, cols;  // in, values, indices (R, N) contiguous, sorted along N
  bool descending;
};

// values (R, N) and indices (R, N) i64 = each row of in sorted stably, NaN the largest
// value; dtype f32, f64 or i64.
void launch_sort(DType dtype, const SortShape& s, void* values, int64_t* indices, const void* in);

}  // namespace ember::EMBER_VARIANT
