// GELU's fused backward (issue 15, perf): the op behind autograd's GeluBackward when no
// graph of the backward is recorded (autograd/functions_elementwise.cpp).
#pragma once

#include "tensor/tensor.h"

namespace ember::raw {

// grad_y gelu'(x) for floating x of grad_y's shape and device: the erf form, or the tanh
// form when `tanh` (torch's approximate="tanh"). The result has x's dtype; grad_y is cast.
Tensor gelu_backward(const Tensor& grad_y, const Tensor& x, bool tanh);

}  // namespace ember::raw
