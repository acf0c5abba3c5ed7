// Launchers of kernels/cuda/pool.cu: 2-D max and avg pooling, fixed and adaptive windows.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "kernels/pool_window.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct PoolShape {
  int64_t planes;            // B = N C
  pool::PoolDim rows, cols;  // H -> P and W -> Q
  bool adaptive;
  bool max;  // else avg
  bool count_include_pad;
  int64_t divisor_override;  // > 0 replaces the avg divisor
};

// out (B, P, Q) from x (B, H, W); max also writes indices (B, P, Q), the flat h W + w.
void launch_pool2d_forward(DType dtype, const PoolShape& s, void* out, int64_t* indices,
                           const void* x);
// grad_x (B, H, W) from grad_out (B, P, Q) (and the forward's indices for max).
void launch_pool2d_backward(DType dtype, const PoolShape& s, void* grad_x, const void* grad_out,
                            const int64_t* indices);

}  // namespace ember::EMBER_VARIANT
