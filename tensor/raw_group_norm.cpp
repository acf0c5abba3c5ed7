// Group normalization of x (N, C, S) over groups of C / G channels: validate, make operands
// contiguous, dispatch.
#include <limits>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

constexpr const char* kOp = "group_norm";
constexpr const char* kBwd = "group_norm_backward";

void check_operands(const char* op, const Tensor& x, int64_t groups, const Tensor& weight,
                    const Tensor& bias) {
  check_defined(op, x);
  if (x.dim() != 3 || !is_floating(x.dtype()))
    fail<ShapeError>(op, "expected a floating (N, C, S) input, got ", x.dtype(), " ",
                     str(x.sizes()));
  if (groups <= 0 || x.size(1) % groups != 0)
    fail<ValueError>(op, "Expected number of channels in input to be divisible by num_groups, ",
                     "but got input of shape ", str(x.sizes()), " and num_groups=", groups);
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

std::tuple<Tensor, Tensor, Tensor> group_norm_forward(const Tensor& x, const Tensor& weight,
                                                      const Tensor& bias, int64_t groups,
                                                      double eps) {
  const profiler::OpScope profile(kOp);
  check_operands(kOp, x, groups, weight, bias);
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  const Dispatch run(Primitive::group_norm, x.device(), x.dtype());
  Tensor y = empty({N, C, S}, x.dtype(), run.device());  // (N, C, S)
  // bf16/f16 inputs keep f32 statistics, as torch's CUDA kernels do (issue 16).
  const DType stat = is_half(x.dtype()) ? DType::f32 : x.dtype();
  Tensor mean = empty({N, groups}, stat, run.device());  // (N, G)
  Tensor rstd = empty({N, groups}, stat, run.device());  // (N, G)
  if (y.numel() > 0) {
    run.backend().group_norm_forward({.y = y,
                                      .mean = mean,
                                      .rstd = rstd,
                                      .x = run.operand(contiguous(x)),
                                      .weight = run.operand(contiguous_or_undefined(weight)),
                                      .bias = run.operand(contiguous_or_undefined(bias))},
                                     {.groups = groups, .eps = eps});
  } else if (mean.numel() > 0) {  // no values per group: the mean of nothing
    fill_(mean, std::numeric_limits<double>::quiet_NaN());
    fill_(rstd, std::numeric_limits<double>::quiet_NaN());
  }
  return {run.result(y), run.result(mean), run.result(rstd)};
}

std::tuple<Tensor, Tensor, Tensor> group_norm_backward(const Tensor& grad_y, const Tensor& x,
                                                       const Tensor& mean, const Tensor& rstd,
                                                       const Tensor& weight, int64_t groups,
                                                       bool need_input, bool need_weight,
                                                       bool need_bias) {
  const profiler::OpScope profile(kBwd);
  check_operands(kBwd, x, groups, weight, Tensor());
  check_defined(kBwd, grad_y);
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  const Shape stats{N, groups};
  if (grad_y.sizes() != x.sizes() || mean.sizes() != stats || rstd.sizes() != stats)
    fail<ShapeError>(kBwd, "expected grad_output of shape ", str(x.sizes()), " and mean, rstd of ",
                     str(stats), ", got ", str(grad_y.sizes()), ", ", str(mean.sizes()), ", ",
                     str(rstd.sizes()));
  const Dispatch run(Primitive::group_norm, x.device(), x.dtype());
  Tensor dx = need_input ? empty({N, C, S}, x.dtype(), run.device()) : Tensor();  // (N, C, S)
  Tensor dw = need_weight ? empty({C}, x.dtype(), run.device()) : Tensor();       // (C)
  Tensor db = need_bias ? empty({C}, x.dtype(), run.device()) : Tensor();         // (C)
  if (x.numel() == 0) {
    for (const Tensor& t : {dw, db})
      if (t.defined()) fill_(t, 0);
    return {run.result(dx), run.result(dw), run.result(db)};
  }
  if (need_input || need_weight || need_bias)
    run.backend().group_norm_backward({.grad_x = dx,
                                       .grad_weight = dw,
                                       .grad_bias = db,
                                       .grad_y = run.operand(contiguous(cast(grad_y, x.dtype()))),
                                       .x = run.operand(contiguous(x)),
                                       .mean = run.operand(contiguous(mean)),
                                       .rstd = run.operand(contiguous(rstd)),
                                       .weight = run.operand(contiguous_or_undefined(weight))},
                                      {.groups = groups});
  return {run.result(dx), run.result(dw), run.result(db)};
}

}  // namespace ember::raw
