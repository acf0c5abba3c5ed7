// cuDNN behind conv2d on the cuda device (host code of the cuda build only): the same
// three primitives as ember's kernels (kernels/cuda/conv2d.cu), for comparing them on a
// GPU and serving `cuda` where cuDNN is faster (ember::backends::cuda::conv).
#pragma once

#include "kernels/cuda/conv2d.h"

namespace ember::cuda_impl {

// Whether cuDNN could be loaded and started (tried once, on the first call).
bool cudnn_conv_available();

// As launch_conv2d_*: contiguous f32 or f64 tensors; tf32 lets cuDNN use TF32 tensor
// cores on f32 (else FMA kernels only). Throw DeviceError when cuDNN cannot be loaded.
void cudnn_conv2d_forward(DType dtype, const Conv2dShape& s, bool tf32, void* out, const void* x,
                          const void* w, const void* bias);
void cudnn_conv2d_backward_input(DType dtype, const Conv2dShape& s, bool tf32, void* grad_x,
                                 const void* grad_out, const void* w);
void cudnn_conv2d_backward_weight(DType dtype, const Conv2dShape& s, bool tf32, void* grad_w,
                                  const void* grad_out, const void* x);

}  // namespace ember::cuda_impl
