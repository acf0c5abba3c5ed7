// Launchers of kernels/cuda/rms_norm.cu: RMS normalization over the last dim (issue 15).
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct RmsNormShape {
  int64_t rows, cols;  // x (rows, cols), normalized over cols
  double eps;
};

// x (rows, cols), weight (cols) or null -> y (rows, cols), rstd (rows).
void launch_rms_norm_forward(DType dtype, const RmsNormShape& s, void* y, void* rstd, const void* x,
                             const void* weight);
// dx (rows, cols) and, when not null, dweight (cols), from dy (rows, cols), x and the
// forward's rstd.
void launch_rms_norm_backward(DType dtype, const RmsNormShape& s, void* dx, void* dweight,
                              const void* dy, const void* x, const void* rstd, const void* weight);

}  // namespace ember::EMBER_VARIANT
