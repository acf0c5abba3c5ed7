// Fused cross entropy: validate, make operands contiguous, dispatch.
#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

struct Operands {
  Tensor logits, target, weight;
};

Operands prepare(const Tensor& logits, const Tensor& target, const Tensor& weight) {
  check_defined("cross_entropy", logits);
  check_defined("cross_entropy", target);
  if (logits.dim() != 2 || !is_floating(logits.dtype()))
    fail<ShapeError>("cross_entropy", "logits must be a floating (rows, classes) tensor, got ",
                     logits.dtype(), " ", str(logits.sizes()));
  if (target.dtype() != DType::i64 || target.dim() != 1 || target.size(0) != logits.size(0))
    fail<ShapeError>("cross_entropy", "target must be i64 of shape [", logits.size(0), "], got ",
                     target.dtype(), " ", str(target.sizes()));
  check_same_device("cross_entropy", logits, target);
  Operands o{contiguous(logits), contiguous(target), Tensor()};
  if (weight.defined()) {
    check_same_device("cross_entropy", logits, weight);
    if (weight.dim() != 1 || weight.size(0) != logits.size(1))
      fail<ShapeError>("cross_entropy", "weight of shape ", str(weight.sizes()), " must be [",
                       logits.size(1), "]");
    o.weight = contiguous(cast(weight, logits.dtype()));
  }
  return o;
}

}  // namespace

std::tuple<Tensor, Tensor> cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                                 const Tensor& weight,
                                                 const CrossEntropyParams& p) {
  const profiler::OpScope profile("cross_entropy");
  Operands o = prepare(logits, target, weight);
  const Dispatch run(Primitive::cross_entropy, logits.device(), logits.dtype());
  Tensor loss = empty({o.logits.size(0)}, logits.dtype(), run.device());  // (R)
  // bf16/f16 logits keep an f32 log-sum-exp for the backward (issue 16).
  Tensor lse = empty({o.logits.size(0)}, is_half(logits.dtype()) ? DType::f32 : logits.dtype(),
                     run.device());  // (R)
  if (loss.numel() > 0)
    run.backend().cross_entropy_forward({.loss = loss,
                                         .lse = lse,
                                         .logits = run.operand(o.logits),
                                         .target = run.operand(o.target),
                                         .weight = run.operand(o.weight)},
                                        p);
  return {run.result(loss), run.result(lse)};
}

Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& lse,
                              const Tensor& target, const Tensor& weight,
                              const CrossEntropyParams& p) {
  const profiler::OpScope profile("cross_entropy_backward");
  Operands o = prepare(logits, target, weight);
  Tensor g = contiguous(cast(grad_loss, logits.dtype()));  // (R)
  Tensor l = contiguous(lse);                              // (R)
  const Dispatch run(Primitive::cross_entropy, logits.device(), logits.dtype());
  Tensor out = empty(o.logits.sizes(), logits.dtype(), run.device());  // (R, C)
  if (out.numel() > 0)
    run.backend().cross_entropy_backward({.grad_logits = out,
                                          .grad_loss = run.operand(g),
                                          .logits = run.operand(o.logits),
                                          .lse = run.operand(l),
                                          .target = run.operand(o.target),
                                          .weight = run.operand(o.weight)},
                                         p);
  return run.result(out);
}

}  // namespace ember::raw
