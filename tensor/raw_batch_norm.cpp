// Batch normalization over (N, S) per channel of x (N, C, S): validate, make operands
// contiguous, dispatch. The running statistics are updated in place by the forward
// primitive itself, so a training step reads nothing back on the host.
#include <limits>
#include <optional>
#include <vector>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

constexpr const char* kOp = "batch_norm";
constexpr const char* kBwd = "batch_norm_backward";

void check_input(const char* op, const Tensor& x) {
  check_defined(op, x);
  if (x.dim() != 3 || !is_floating(x.dtype()))
    fail<ShapeError>(op, "expected a floating (N, C, S) input, got ", x.dtype(), " ",
                     str(x.sizes()));
}

// A per-channel operand: (C) of dtype `want` (x's unless said) on x's device, or undefined.
void check_channel(const char* op, const char* name, const Tensor& x, const Tensor& t,
                   std::optional<DType> want = std::nullopt) {
  if (!t.defined()) return;
  check_same_device(op, x, t);
  const DType dt = want.value_or(x.dtype());
  if (t.dtype() != dt || t.dim() != 1 || t.size(0) != x.size(1))
    fail<ShapeError>(op, name, " of ", t.dtype(), " ", str(t.sizes()), " must be ", dt, " [",
                     x.size(1), "] (input ", str(x.sizes()), ")");
}

// The saved statistics' dtype: f32 for a bf16/f16 x, as torch's CUDA kernels (issue 16).
DType stat_dtype(const Tensor& x) { return is_half(x.dtype()) ? DType::f32 : x.dtype(); }

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? contiguous(t) : t; }

}  // namespace

std::tuple<Tensor, Tensor, Tensor> batch_norm_forward(
    const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
    const Tensor& running_var, const Tensor& num_batches_tracked, const BatchNormParams& p) {
  const profiler::OpScope profile(kOp);
  check_input(kOp, x);
  check_channel(kOp, "weight", x, weight);
  check_channel(kOp, "bias", x, bias);
  check_channel(kOp, "running_mean", x, running_mean);
  check_channel(kOp, "running_var", x, running_var);
  if (running_mean.defined() != running_var.defined())
    fail<ValueError>(kOp, "running_mean and running_var must both be given or both omitted");
  if (!p.training && !running_mean.defined())
    fail<ValueError>(kOp, "running_mean and running_var are required in evaluation mode");
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  if (p.training && N * S < 2)
    fail<ValueError>(kOp, "Expected more than 1 value per channel when training, got input size ",
                     str(x.sizes()));
  if (num_batches_tracked.defined()) {
    check_same_device(kOp, x, num_batches_tracked);
    if (num_batches_tracked.dtype() != DType::i64 || num_batches_tracked.numel() != 1)
      fail<ShapeError>(kOp, "num_batches_tracked must be one i64 value, got ",
                       num_batches_tracked.dtype(), " ", str(num_batches_tracked.sizes()));
  }
  Dispatch run(Primitive::batch_norm, x.device(), x.dtype());
  Tensor y = empty({N, C, S}, x.dtype(), run.device());  // (N, C, S)
  // The running statistics stay in their buffers' dtype (issue 16).
  Tensor mean = empty({C}, stat_dtype(x), run.device());    // (C)
  Tensor invstd = empty({C}, stat_dtype(x), run.device());  // (C)
  if (C == 0) return {run.result(y), run.result(mean), run.result(invstd)};
  // The kernel updates contiguous running statistics; a strided one goes through a copy.
  const bool update = p.training && running_mean.defined();
  Tensor rm = running_mean, rv = running_var;
  if (update && !rm.is_contiguous()) rm = contiguous(rm);
  if (update && !rv.is_contiguous()) rv = contiguous(rv);
  BatchNormForwardArgs a{.y = y,
                         .mean = mean,
                         .invstd = invstd,
                         .x = run.operand(contiguous(x)),
                         .weight = run.operand(contiguous_or_undefined(weight)),
                         .bias = run.operand(contiguous_or_undefined(bias)),
                         .running_mean = Tensor(),
                         .running_var = Tensor(),
                         .num_batches_tracked = Tensor()};
  if (update) {
    a.running_mean = *run.in_place(&rm);
    a.running_var = *run.in_place(&rv);
    if (num_batches_tracked.defined())
      a.num_batches_tracked = run.operand(contiguous(num_batches_tracked));
  } else if (!p.training) {
    a.running_mean = run.operand(contiguous(running_mean));
    a.running_var = run.operand(contiguous(running_var));
  }
  run.backend().batch_norm_forward(a, p);
  run.write_back();
  if (update && !rm.is_same(running_mean)) copy_(running_mean, rm);
  if (update && !rv.is_same(running_var)) copy_(running_var, rv);
  return {run.result(y), run.result(mean), run.result(invstd)};
}

std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_y, const Tensor& x,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool training,
                                                       bool need_input, bool need_weight,
                                                       bool need_bias) {
  const profiler::OpScope profile(kBwd);
  check_input(kBwd, x);
  check_defined(kBwd, grad_y);
  check_channel(kBwd, "weight", x, weight);
  check_channel(kBwd, "mean", x, mean, stat_dtype(x));
  check_channel(kBwd, "invstd", x, invstd, stat_dtype(x));
  if (grad_y.sizes() != x.sizes())
    fail<ShapeError>(kBwd, "expected grad_output of shape ", str(x.sizes()), ", got ",
                     str(grad_y.sizes()));
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  const Dispatch run(Primitive::batch_norm, x.device(), x.dtype());
  Tensor dx = need_input ? empty({N, C, S}, x.dtype(), run.device()) : Tensor();  // (N, C, S)
  Tensor dw = need_weight ? empty({C}, x.dtype(), run.device()) : Tensor();       // (C)
  Tensor db = need_bias ? empty({C}, x.dtype(), run.device()) : Tensor();         // (C)
  if (C > 0 && (need_input || need_weight || need_bias)) {
    run.backend().batch_norm_backward({.grad_x = dx,
                                       .grad_weight = dw,
                                       .grad_bias = db,
                                       .grad_y = run.operand(contiguous(cast(grad_y, x.dtype()))),
                                       .x = run.operand(contiguous(x)),
                                       .mean = run.operand(contiguous(mean)),
                                       .invstd = run.operand(contiguous(invstd)),
                                       .weight = run.operand(contiguous_or_undefined(weight))},
                                      {.training = training});
  }
  return {run.result(dx), run.result(dw), run.result(db)};
}

}  // namespace ember::raw
