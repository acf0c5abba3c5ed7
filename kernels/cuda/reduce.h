// The launcher of reduce.cu: one reduction per row of a contiguous matrix.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

// Rows of the contiguous (rows, cols) `in` into out (rows); indices (rows) for argmax and
// argmin, else null; `correction` for var and std.
void launch_reduce(ReduceOp op, DType dtype, void* out, int64_t* indices, const void* in,
                   int64_t rows, int64_t cols, int64_t correction);

}  // namespace ember::EMBER_VARIANT
