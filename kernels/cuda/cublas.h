// cuBLAS behind matmul on the cuda device (host code of the cuda build only).
#pragma once

#include <cstdint>

#include "kernels/cuda/matmul.h"

namespace ember::cuda_impl {

// out (batch, m, n) row-major = a @ b, where each operand's matrices have unit stride
// along columns (row_major, ld = row stride) or along rows (ld = column stride).
void cublas_gemm(DType dtype, const GemmShape& s, bool a_row_major, int64_t lda, bool b_row_major,
                 int64_t ldb, void* out, const void* a, const void* b);

}  // namespace ember::cuda_impl
