// Fused optimizer steps: validate, group by device, dispatch.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/optim_state_dtype.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

void check_state(const char* op, const Tensor& param, const Tensor& t, const char* what) {
  if (!t.defined()) return;
  if (t.sizes() != param.sizes() || t.dtype() != optim_state_dtype(param.dtype()) ||
      t.device() != param.device())
    fail<ShapeError>(op, what, " of shape ", str(t.sizes()), " (", t.dtype(), ", ", t.device(),
                     ") does not match its parameter of shape ", str(param.sizes()), " (",
                     param.dtype(), ", ", param.device(), "; state dtype ",
                     optim_state_dtype(param.dtype()), ")");
  if (!t.is_contiguous()) fail<ValueError>(op, what, " must be contiguous");
}

void check_param(const char* op, const Tensor& param, const Tensor& grad) {
  check_defined(op, param);
  check_defined(op, grad);
  if (!is_floating(param.dtype()))
    fail<DTypeError>(op, "parameters must be floating-point, got ", param.dtype());
  if (!param.is_contiguous())
    fail<ValueError>(op, "parameter of shape ", str(param.sizes()), " must be contiguous");
  if (grad.sizes() != param.sizes() || grad.device() != param.device())
    fail<ShapeError>(op, "gradient of shape ", str(grad.sizes()), " on ", grad.device(),
                     " does not match its parameter of shape ", str(param.sizes()), " on ",
                     param.device());
  if (grad.dtype() != param.dtype())
    fail<DTypeError>(op, "gradient of dtype ", grad.dtype(), " does not match its parameter's ",
                     param.dtype(), " (shape ", str(param.sizes()), ")");
}

}  // namespace

void adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p) {
  const profiler::OpScope profile("adam_step");
  std::map<std::pair<int, int>, std::vector<AdamTensors>> by_device;
  for (const AdamTensors& t : tensors) {
    check_param("adam_step", *t.param, *t.grad);
    check_state("adam_step", *t.param, *t.exp_avg, "exp_avg");
    check_state("adam_step", *t.param, *t.exp_avg_sq, "exp_avg_sq");
    if (p.amsgrad) {
      if (!t.max_exp_avg_sq || !t.max_exp_avg_sq->defined())
        fail<ValueError>("adam_step", "amsgrad needs max_exp_avg_sq");
      check_state("adam_step", *t.param, *t.max_exp_avg_sq, "max_exp_avg_sq");
    }
    if (t.step < 1) fail<ValueError>("adam_step", "step counts start at 1, got ", t.step);
    Device d = t.param->device();
    by_device[{static_cast<int>(d.type), d.index}].push_back(t);
  }
  for (auto& [key, group] : by_device) {
    Device d = group.front().param->device();
    std::vector<Tensor> keep;  // contiguous copies of strided gradients
    keep.reserve(group.size());
    for (AdamTensors& t : group)
      if (!t.grad->is_contiguous()) {
        keep.push_back(contiguous(*t.grad));
        t.grad = &keep.back();
      }
    Dispatch run(Primitive::adam_step, d, group.front().param->dtype());
    for (AdamTensors& t : group) {
      t.param = run.in_place(t.param);
      t.grad = run.in_place(t.grad);
      t.exp_avg = run.in_place(t.exp_avg);
      t.exp_avg_sq = run.in_place(t.exp_avg_sq);
      t.max_exp_avg_sq = run.in_place(t.max_exp_avg_sq);
    }
    run.backend().adam_step(group, p);
    run.write_back();
  }
}

void sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p) {
  const profiler::OpScope profile("sgd_step");
  std::map<std::pair<int, int>, std::vector<SgdTensors>> by_device;
  for (const SgdTensors& t : tensors) {
    check_param("sgd_step", *t.param, *t.grad);
    if (p.momentum != 0.0) {
      if (!t.momentum_buffer || !t.momentum_buffer->defined())
        fail<ValueError>("sgd_step", "momentum needs a buffer");
      check_state("sgd_step", *t.param, *t.momentum_buffer, "momentum_buffer");
    }
    Device d = t.param->device();
    by_device[{static_cast<int>(d.type), d.index}].push_back(t);
  }
  for (auto& [key, group] : by_device) {
    Device d = group.front().param->device();
    std::vector<Tensor> keep;
    keep.reserve(group.size());
    for (SgdTensors& t : group)
      if (!t.grad->is_contiguous()) {
        keep.push_back(contiguous(*t.grad));
        t.grad = &keep.back();
      }
    Dispatch run(Primitive::sgd_step, d, group.front().param->dtype());
    for (SgdTensors& t : group) {
      t.param = run.in_place(t.param);
      t.grad = run.in_place(t.grad);
      t.momentum_buffer = run.in_place(t.momentum_buffer);
    }
    run.backend().sgd_step(group, p);
    run.write_back();
  }
}

double multi_tensor_norm(const std::vector<Tensor>& tensors, double norm_type) {
  constexpr const char* op = "multi_tensor_norm";
  if (!(norm_type > 0)) fail<ValueError>(op, "norm_type must be positive, got ", norm_type);
  std::map<std::tuple<int, int, int>, std::vector<Tensor>> groups;  // (device type, index, dtype)
  for (const Tensor& t : tensors) {
    check_defined(op, t);
    if (!is_floating(t.dtype()))
      fail<DTypeError>(op, "tensors must be floating-point, got ", t.dtype());
    const Device d = t.device();
    groups[{static_cast<int>(d.type), d.index, static_cast<int>(t.dtype())}].push_back(
        contiguous(t));
  }
  const bool inf = std::isinf(norm_type);
  double total = 0;
  for (auto& [key, group] : groups) {
    const Dispatch run(Primitive::multi_norm, group.front().device(), group.front().dtype());
    for (Tensor& t : group) t = run.operand(t);
    std::vector<const Tensor*> ptrs;
    ptrs.reserve(group.size());
    for (const Tensor& t : group) ptrs.push_back(&t);
    Tensor out = empty({}, DType::f64, run.device());
    run.backend().multi_norm(out, ptrs, norm_type);
    const double v = to_device(out, Device::cpu()).item<double>();
    if (!inf) {
      total += v;
    } else if (std::isnan(v) || std::isnan(total)) {
      total = std::numeric_limits<double>::quiet_NaN();
    } else {
      total = std::max(total, v);
    }
  }
  return total;
}

}  // namespace ember::raw
