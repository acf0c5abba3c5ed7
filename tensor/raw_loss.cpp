// Fused cross entropy: validate, make operands contiguous, dispatch.
#include "tensor/backend.h"
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
    fail<ShapeError>("cross_entropy", "logits must be a floating (rows, classes) tensor, got ", logits.dtype(), " ",
                     str(logits.sizes()));
  if (target.dtype() != DType::i64 || target.dim() != 1 || target.size(0) != logits.size(0))
    fail<ShapeError>("cross_entropy", "target must be i64 of shape [", logits.size(0), "], got ", target.dtype(),
                     " ", str(target.sizes()));
  check_same_device("cross_entropy", logits, target);
  Operands o{contiguous(logits), contiguous(target), Tensor()};
  if (weight.defined()) {
    check_same_device("cross_entropy", logits, weight);
    if (weight.dim() != 1 || weight.size(0) != logits.size(1))
      fail<ShapeError>("cross_entropy", "weight of shape ", str(weight.sizes()), " must be [", logits.size(1), "]");
    o.weight = contiguous(cast(weight, logits.dtype()));
  }
  return o;
}

// The backend that runs the primitive: the device's own, or the cpu kernels in place on
// host memory, or nothing (the caller then computes on host copies).
Backend* runner(Device d) {
  Backend& be = backend(d);
  if (be.has_cross_entropy()) return &be;
  if (d.is_host_accessible()) {
    be.synchronize();
    return &backend(DeviceType::cpu);
  }
  return nullptr;
}

}  // namespace

std::tuple<Tensor, Tensor> cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                                 const CrossEntropyParams& p) {
  const profiler::OpScope profile("cross_entropy");
  Operands o = prepare(logits, target, weight);
  Device d = logits.device();
  if (Backend* be = runner(d)) {
    Tensor loss = empty({o.logits.size(0)}, logits.dtype(), d);
    Tensor lse = empty({o.logits.size(0)}, logits.dtype(), d);
    if (loss.numel() > 0) be->cross_entropy_forward(loss, lse, o.logits, o.target, o.weight, p);
    return {loss, lse};
  }
  Device cpu = Device::cpu();
  auto [loss, lse] = cross_entropy_forward(to_device(o.logits, cpu), to_device(o.target, cpu),
                                           o.weight.defined() ? to_device(o.weight, cpu) : Tensor(), p);
  return {to_device(loss, d), to_device(lse, d)};
}

Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& lse, const Tensor& target,
                              const Tensor& weight, const CrossEntropyParams& p) {
  const profiler::OpScope profile("cross_entropy_backward");
  Operands o = prepare(logits, target, weight);
  Tensor g = contiguous(cast(grad_loss, logits.dtype()));
  Tensor l = contiguous(lse);
  Device d = logits.device();
  if (Backend* be = runner(d)) {
    Tensor out = empty(o.logits.sizes(), logits.dtype(), d);
    if (out.numel() > 0) be->cross_entropy_backward(out, g, o.logits, l, o.target, o.weight, p);
    return out;
  }
  Device cpu = Device::cpu();
  return to_device(cross_entropy_backward(to_device(g, cpu), to_device(o.logits, cpu), to_device(l, cpu),
                                          to_device(o.target, cpu),
                                          o.weight.defined() ? to_device(o.weight, cpu) : Tensor(), p),
                   d);
}

}  // namespace ember::raw
