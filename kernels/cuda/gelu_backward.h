// Launcher of kernels/cuda/gelu_backward.cu: GELU's fused backward (issue 15, perf).
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

// grad_x[i] = grad_y[i] gelu'(x[i]) over n contiguous elements; the tanh form when `tanh`.
void launch_gelu_backward(DType dtype, int64_t n, bool tanh, void* grad_x, const void* grad_y,
                          const void* x);

}  // namespace ember::EMBER_VARIANT
