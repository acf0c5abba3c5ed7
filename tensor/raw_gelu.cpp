// GELU's fused backward (issue 15, perf): validate, make operands contiguous, dispatch
// to the gelu_backward primitive.
#include "tensor/raw_gelu.h"

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

Tensor gelu_backward(const Tensor& grad_y, const Tensor& x, bool tanh) {
  constexpr const char* kOp = "gelu_backward";
  const profiler::OpScope profile(kOp);
  check_defined(kOp, x);
  check_defined(kOp, grad_y);
  check_same_device(kOp, x, grad_y);
  if (!is_floating(x.dtype()))
    fail<DTypeError>(kOp, "needs a floating-point input, got ", x.dtype(), " of shape ",
                     str(x.sizes()));
  if (grad_y.sizes() != x.sizes())
    fail<ShapeError>(kOp, "grad_output of shape ", str(grad_y.sizes()),
                     " does not match the input's ", str(x.sizes()));
  const Dispatch run(Primitive::gelu_backward, x.device(), x.dtype());
  Tensor grad_x = empty(x.sizes(), x.dtype(), run.device());
  if (grad_x.numel() > 0)
    run.backend().gelu_backward(grad_x, run.operand(contiguous(cast(grad_y, x.dtype()))),
                                run.operand(contiguous(x)), tanh);
  return run.result(grad_x);
}

}  // namespace ember::raw
