// Launchers of kernels/cuda/upsample.cu: bilinear resizing of (B, H, W) planes and its
// gradient.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct UpsampleShape {
  int64_t planes;  // B
  int64_t in_h, in_w;
  int64_t out_h, out_w;
  double scale_h, scale_w;  // torch's source-index scales
  bool align_corners;
};

// out (B, P, Q) = the bilinear resize of x (B, H, W).
void launch_upsample_bilinear_forward(DType dtype, const UpsampleShape& s, void* out,
                                      const void* x);
// grad_x (B, H, W) from grad_out (B, P, Q): a gather per input element, no atomics.
void launch_upsample_bilinear_backward(DType dtype, const UpsampleShape& s, void* grad_x,
                                       const void* grad_out);

}  // namespace ember::EMBER_VARIANT
