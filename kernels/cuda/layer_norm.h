// Launchers of kernels/cuda/layer_norm.cu: layer normalization over the last dim.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct LayerNormShape {
  int64_t rows, cols;  // x (rows, cols), normalized over cols
  double eps;
};

// x (rows, cols), weight (cols) or null, bias (cols) or null -> y (rows, cols),
// mean (rows), rstd (rows).
void launch_layer_norm_forward(DType dtype, const LayerNormShape& s, void* y, void* mean,
                               void* rstd, const void* x, const void* weight, const void* bias);
// dx (rows, cols) and, when not null, dweight (cols) and dbias (cols), from dy (rows, cols),
// x and the forward's mean and rstd.
void launch_layer_norm_backward(DType dtype, const LayerNormShape& s, void* dx, void* dweight,
                                void* dbias, const void* dy, const void* x, const void* mean,
                                const void* rstd, const void* weight);

}  // namespace ember::EMBER_VARIANT
