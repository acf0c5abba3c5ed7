// RMS normalization over the last dim (issue 15): validate, make operands contiguous,
// dispatch to the rms_norm primitive.
#include <limits>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

constexpr const char* kOp = "rms_norm";
constexpr const char* kBwd = "rms_norm_backward";

// x (R, N) floating; weight (N) of x's dtype on x's device, or undefined.
void check_operands(const char* op, const Tensor& x, const Tensor& weight) {
  check_defined(op, x);
  if (x.dim() != 2 || !is_floating(x.dtype()))
    fail<ShapeError>(op, "expected a floating (rows, features) input, got ", x.dtype(), " ",
                     str(x.sizes()));
  if (!weight.defined()) return;
  check_same_device(op, x, weight);
  if (weight.dtype() != x.dtype() || weight.dim() != 1 || weight.size(0) != x.size(1))
    fail<ShapeError>(op, "weight of ", weight.dtype(), " ", str(weight.sizes()), " must be ",
                     x.dtype(), " [", x.size(1), "] (input ", str(x.sizes()), ")");
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? contiguous(t) : t; }

}  // namespace

std::tuple<Tensor, Tensor> rms_norm_forward(const Tensor& x, const Tensor& weight, double eps) {
  const profiler::OpScope profile(kOp);
  check_operands(kOp, x, weight);
  const int64_t R = x.size(0), N = x.size(1);
  const Dispatch run(Primitive::rms_norm, x.device(), x.dtype());
  Tensor y = empty({R, N}, x.dtype(), run.device());  // (R, N)
  // bf16/f16 inputs keep an f32 rstd, as torch's CUDA kernels do (issue 16).
  Tensor rstd = empty({R}, is_half(x.dtype()) ? DType::f32 : x.dtype(), run.device());  // (R)
  if (y.numel() > 0) {
    run.backend().rms_norm_forward({.y = y,
                                    .rstd = rstd,
                                    .x = run.operand(contiguous(x)),
                                    .weight = run.operand(contiguous_or_undefined(weight))},
                                   {.eps = eps});
  } else if (R > 0) {  // no features: torch's mean of nothing is NaN
    fill_(rstd, std::numeric_limits<double>::quiet_NaN());
  }
  return {run.result(y), run.result(rstd)};
}

std::tuple<Tensor, Tensor> rms_norm_backward(const Tensor& grad_y, const Tensor& x,
                                             const Tensor& rstd, const Tensor& weight,
                                             bool need_weight) {
  const profiler::OpScope profile(kBwd);
  check_operands(kBwd, x, weight);
  check_defined(kBwd, grad_y);
  const int64_t R = x.size(0), N = x.size(1);
  if (grad_y.sizes() != x.sizes() || rstd.sizes() != Shape{R})
    fail<ShapeError>(kBwd, "expected grad_output of shape ", str(x.sizes()), " and rstd of [", R,
                     "], got ", str(grad_y.sizes()), ", ", str(rstd.sizes()));
  const Dispatch run(Primitive::rms_norm, x.device(), x.dtype());
  Tensor dx = empty({R, N}, x.dtype(), run.device());                        // (R, N)
  Tensor dw = need_weight ? empty({N}, x.dtype(), run.device()) : Tensor();  // (N)
  if (R == 0 || N == 0) {
    if (dw.defined()) fill_(dw, 0);
    return {run.result(dx), run.result(dw)};
  }
  run.backend().rms_norm_backward({.grad_x = dx,
                                   .grad_weight = dw,
                                   .grad_y = run.operand(contiguous(cast(grad_y, x.dtype()))),
                                   .x = run.operand(contiguous(x)),
                                   .rstd = run.operand(contiguous(rstd)),
                                   .weight = run.operand(contiguous_or_undefined(weight))},
                                  {});
  return {run.result(dx), run.result(dw)};
}

}  // namespace ember::raw
