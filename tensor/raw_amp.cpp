// GradScaler's device-side steps (issue 16): validate, group by dtype, dispatch. Nothing
// here reads a value back to the host, so unscaling and the scale update stay on the GPU.
#include <map>
#include <vector>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

// A one-element tensor of `dtype` on `device`: the scalar operands of the amp primitives.
void check_scalar(const char* op, const char* what, const Tensor& t, DType dtype, Device device) {
  check_defined(op, t);
  if (t.numel() != 1 || t.dtype() != dtype)
    fail<ValueError>(op, what, " must be a one-element ", dtype, " tensor, got shape ",
                     str(t.sizes()), " (", t.dtype(), ")");
  if (t.device() != device)
    fail<DeviceError>(op, what, " is on ", t.device(), " but the tensors are on ", device);
}

}  // namespace

void amp_unscale_(const std::vector<Tensor>& tensors, const Tensor& found_inf,
                  const Tensor& inv_scale) {
  constexpr const char* op = "amp_unscale";
  const profiler::OpScope profile(op);
  check_defined(op, found_inf);
  const Device device = found_inf.device();
  check_scalar(op, "found_inf", found_inf, DType::f32, device);
  check_scalar(op, "inv_scale", inv_scale, DType::f32, device);
  std::map<int, std::vector<Tensor>> by_dtype;
  for (const Tensor& t : tensors) {
    check_defined(op, t);
    if (!is_floating(t.dtype()))
      fail<DTypeError>(op, "tensors must be floating-point, got ", t.dtype());
    if (t.device() != device)
      fail<DeviceError>(op, "a tensor of shape ", str(t.sizes()), " is on ", t.device(),
                        " but found_inf is on ", device);
    // In place: a strided view cannot be replaced by a contiguous copy (the caller's
    // gradient would keep its old values).
    if (!t.is_contiguous())
      fail<ValueError>(op, "tensor of shape ", str(t.sizes()), " must be contiguous");
    if (t.numel() > 0) by_dtype[static_cast<int>(t.dtype())].push_back(t);
  }
  for (auto& [key, group] : by_dtype) {
    Dispatch run(Primitive::amp_unscale, device, group.front().dtype());
    std::vector<const Tensor*> ptrs;
    ptrs.reserve(group.size());
    for (const Tensor& t : group) ptrs.push_back(run.in_place(&t));
    const Tensor* flag = run.in_place(&found_inf);
    run.backend().amp_unscale(ptrs, *flag, run.operand(inv_scale));
    run.write_back();
  }
}

void amp_update_scale_(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                       const AmpScaleParams& p) {
  constexpr const char* op = "amp_update_scale";
  const profiler::OpScope profile(op);
  check_defined(op, scale);
  const Device device = scale.device();
  check_scalar(op, "scale", scale, DType::f32, device);
  check_scalar(op, "growth_tracker", growth_tracker, DType::i64, device);
  check_scalar(op, "found_inf", found_inf, DType::f32, device);
  if (!(p.growth_factor > 1.0))
    fail<ValueError>(op, "growth_factor must be > 1, got ", p.growth_factor);
  if (!(p.backoff_factor < 1.0))
    fail<ValueError>(op, "backoff_factor must be < 1, got ", p.backoff_factor);
  if (p.growth_interval <= 0)
    fail<ValueError>(op, "growth_interval must be > 0, got ", p.growth_interval);
  Dispatch run(Primitive::amp_update_scale, device, DType::f32);
  const Tensor* s = run.in_place(&scale);
  const Tensor* tracker = run.in_place(&growth_tracker);
  run.backend().amp_update_scale(*s, *tracker, run.operand(found_inf), p);
  run.write_back();
}

}  // namespace ember::raw
