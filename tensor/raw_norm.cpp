// Layer normalization over the last dim: validate, make operands contiguous, dispatch.
#include <limits>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

constexpr const char* kOp = "layer_norm";
constexpr const char* kBwd = "layer_norm_backward";

// x (R, N) floating; weight and bias (N) of x's dtype on x's device, or undefined.
void check_operands(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined(op, x);
  if (x.dim() != 2 || !is_floating(x.dtype()))
    fail<ShapeError>(op, "expected a floating (rows, features) input, got ", x.dtype(), " ",
                     str(x.sizes()));
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    check_same_device(op, x, *t);
    if (t->dtype() != x.dtype() || t->dim() != 1 || t->size(0) != x.size(1))
      fail<ShapeError>(op, t == &weight ? "weight" : "bias", " of ", t->dtype(), " ",
                       str(t->sizes()), " must be ", x.dtype(), " [", x.size(1), "] (input ",
                       str(x.sizes()), ")");
  }
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? contiguous(t) : t; }

}  // namespace

std::tuple<Tensor, Tensor, Tensor> layer_norm_forward(const Tensor& x, const Tensor& weight,
                                                      const Tensor& bias, double eps) {
  const profiler::OpScope profile(kOp);
  check_operands(kOp, x, weight, bias);
  const int64_t R = x.size(0), N = x.size(1);
  const Dispatch run(Primitive::layer_norm, x.device(), x.dtype());
  Tensor y = empty({R, N}, x.dtype(), run.device());  // (R, N)
  // bf16/f16 inputs keep f32 statistics, as torch's CUDA kernels do (issue 16).
  const DType stat = is_half(x.dtype()) ? DType::f32 : x.dtype();
  Tensor mean = empty({R}, stat, run.device());  // (R)
  Tensor rstd = empty({R}, stat, run.device());  // (R)
  if (y.numel() > 0) {
    run.backend().layer_norm_forward({.y = y,
                                      .mean = mean,
                                      .rstd = rstd,
                                      .x = run.operand(contiguous(x)),
                                      .weight = run.operand(contiguous_or_undefined(weight)),
                                      .bias = run.operand(contiguous_or_undefined(bias))},
                                     {.eps = eps});
  } else if (R > 0) {  // no features: the mean of nothing
    fill_(mean, std::numeric_limits<double>::quiet_NaN());
    fill_(rstd, std::numeric_limits<double>::quiet_NaN());
  }
  return {run.result(y), run.result(mean), run.result(rstd)};
}

std::tuple<Tensor, Tensor, Tensor> layer_norm_backward(const Tensor& grad_y, const Tensor& x,
                                                       const Tensor& mean, const Tensor& rstd,
                                                       const Tensor& weight, bool need_weight,
                                                       bool need_bias) {
  const profiler::OpScope profile(kBwd);
  check_operands(kBwd, x, weight, Tensor());
  check_defined(kBwd, grad_y);
  const int64_t R = x.size(0), N = x.size(1);
  if (grad_y.sizes() != x.sizes() || mean.sizes() != Shape{R} || rstd.sizes() != Shape{R})
    fail<ShapeError>(kBwd, "expected grad_output of shape ", str(x.sizes()), " and mean, rstd of [",
                     R, "], got ", str(grad_y.sizes()), ", ", str(mean.sizes()), ", ",
                     str(rstd.sizes()));
  const Dispatch run(Primitive::layer_norm, x.device(), x.dtype());
  Tensor dx = empty({R, N}, x.dtype(), run.device());                        // (R, N)
  Tensor dw = need_weight ? empty({N}, x.dtype(), run.device()) : Tensor();  // (N)
  Tensor db = need_bias ? empty({N}, x.dtype(), run.device()) : Tensor();    // (N)
  if (R == 0 || N == 0) {
    for (const Tensor& t : {dw, db})
      if (t.defined()) fill_(t, 0);
    return {run.result(dx), run.result(dw), run.result(db)};
  }
  run.backend().layer_norm_backward({.grad_x = dx,
                                     .grad_weight = dw,
                                     .grad_bias = db,
                                     .grad_y = run.operand(contiguous(cast(grad_y, x.dtype()))),
                                     .x = run.operand(contiguous(x)),
                                     .mean = run.operand(contiguous(mean)),
                                     .rstd = run.operand(contiguous(rstd)),
                                     .weight = run.operand(contiguous_or_undefined(weight))},
                                    {});
  return {run.result(dx), run.result(dw), run.result(db)};
}

}  // namespace ember::raw
