// ember's own f32 GEMMs for the cpu backend (issue 19): the cache-blocked, packed one
// (gemm_packed.cpp), in place of Eigen's for f32 matmul (kernels/cpu/matmul.cpp says which
// products take it) and the convolutions (kernels/cpu/dense.h), and the narrow one that
// reads a row-major b of a few vectors in place (gemm_narrow.cpp). Plain pointers and
// strides in, one thread; the caller splits products over threads.
#pragma once

#include <cstdint>

namespace ember::cpu {

// One f32 matrix operand at a raw pointer: element (r, c) at p[r * rs + c * cs]. Packing is
// fastest when rs or cs is 1 (column- or row-major); any strides work.
struct GemmOperand {
  const float* p;
  int64_t rs, cs;
};

// Whether this build has a micro-kernel (AVX-512F, or AVX2 with FMA). Without one,
// gemm_packed_f32 must not be called (the caller keeps Eigen).
bool gemm_packed_available();

// c (M, N) = a (M, K) @ b (K, N), or c += a @ b when `accumulate`; c is row-major with
// ldc floats between rows. Runs on the calling thread. M, N, K >= 1; c must not overlap a
// or b.
void gemm_packed_f32(float* c, int64_t ldc, GemmOperand a, GemmOperand b, int64_t M, int64_t N,
                     int64_t K, bool accumulate);

// c = a @ b on an OpenMP team of `threads` (the caller is not inside a parallel region):
// the threads pack all of b once, together, then each multiplies its own block of rows by
// it. Returns false, touching nothing, when that does not pay or fit (fewer than two row
// tiles per thread, or b larger than 16 MiB packed): the caller splits the product itself.
bool gemm_packed_f32_rows_parallel(float* c, int64_t ldc, GemmOperand a, GemmOperand b, int64_t M,
                                   int64_t N, int64_t K, int threads);

// c (M, N) = a (M, K) @ b (K, N), or c += a @ b when `accumulate`, without packing, for a
// narrow b read in place: N <= gemm_narrow_max_cols() columns with unit column stride
// (b.cs == 1). a is read by broadcasts at any strides. Runs on the calling thread. Returns
// false, touching nothing, where it does not apply (no micro-kernel, N too wide, b.cs != 1).
// For the Winograd GEMMs of 16 to 64 channels, where packing a narrow operand costs more
// than the product (kernels/cpu/conv2d_winograd_channels.cpp).
int64_t gemm_narrow_max_cols();
bool gemm_narrow_f32(float* c, int64_t ldc, GemmOperand a, GemmOperand b, int64_t M, int64_t N,
                     int64_t K, bool accumulate);

}  // namespace ember::cpu
