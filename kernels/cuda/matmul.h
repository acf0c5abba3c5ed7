// The launcher of matmul.cu (ember's tiled GEMM) and the shape cuBLAS takes too
// (kernels/cuda/cublas.h).
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

// out (batch, m, n) contiguous = a (batch, m, k) @ b (batch, k, n).
struct GemmShape {
  int64_t batch, m, n, k;
  int64_t a_batch, a_row, a_col;  // strides of a, in elements (batch stride 0: broadcast)
  int64_t b_batch, b_row, b_col;
};
void launch_gemm_tiled(DType dtype, const GemmShape& s, void* out, const void* a, const void* b);

}  // namespace ember::EMBER_VARIANT
