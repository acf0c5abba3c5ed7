// f32 GEMM kernels of the cpu backend for the skinny products of a wide linear layer
// (issue 19: the seed step's 57600 x 128 layer), where Eigen's packing costs a pass over
// the large operand.
#pragma once

#include <cstdint>

namespace ember::cpu {

// out (M, N), row-major and contiguous, = a (M, K) @ b (K, N), where a's element (m, k) is
// at a[m * a_sm + k * a_sk] and b's (k, n) at b[k * b_sk + n * b_sn]. Runs the product and
// returns true when it is one of the shapes these kernels are for; returns false, touching
// nothing, otherwise (the caller runs Eigen). `threads` > 1 splits the product over an
// OpenMP team (the caller is not inside a parallel region).
bool skinny_gemm_f32(float* out, const float* a, int64_t a_sm, int64_t a_sk, const float* b,
                     int64_t b_sk, int64_t b_sn, int64_t M, int64_t N, int64_t K, int threads);

}  // namespace ember::cpu
