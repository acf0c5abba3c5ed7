// The launchers of conv2d.cu: implicit-GEMM convolution, all tensors contiguous, f32 or
// f64; cuDNN takes the same shape (kernels/cuda/cudnn_conv.h). x (N, C, H, W), w (K,
// C/groups, R, S), bias (K) or null, out (N, K, P, Q). tf32 (f32 on cuda, sm_80+ only;
// the caller checks) multiplies on TF32 tensor cores.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct Conv2dShape {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // filters
  int64_t P, Q;        // output
  Conv2dParams p;      // stride, padding, dilation, groups
};
void launch_conv2d_forward(DType dtype, const Conv2dShape& s, bool tf32, void* out, const void* x,
                           const void* w, const void* bias);
void launch_conv2d_backward_input(DType dtype, const Conv2dShape& s, bool tf32, void* grad_x,
                                  const void* grad_out, const void* w);
void launch_conv2d_backward_weight(DType dtype, const Conv2dShape& s, bool tf32, void* grad_w,
                                   const void* grad_out, const void* x);

}  // namespace ember::EMBER_VARIANT
