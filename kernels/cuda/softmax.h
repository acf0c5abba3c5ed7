// The launcher of softmax.cu: softmax or log-softmax along the rows of a contiguous matrix.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

// Rows of the contiguous (rows, cols) `in` into out (rows, cols).
void launch_softmax(DType dtype, void* out, const void* in, int64_t rows, int64_t cols, bool log);

}  // namespace ember::EMBER_VARIANT
