// The one dispatch rule of the op layer: where an op's primitive runs.
//
// An op (tensor/raw_*.cpp) validates, makes its operands contiguous, then asks Dispatch
// for the backend that runs the primitive:
//   1. the device's own kernel, when its backend supports(op, dtype);
//   2. else, on a host-memory device (sim), the cpu kernels on the operands in place;
//   3. else the cpu kernels on host copies, the results copied back (a host round trip).
// Routes 2 and 3 are fallbacks: the first on each (op, device) prints one line on stderr,
//   ember: warning: <op> has no <device> kernel for <dtype>; running <fallback>
// and each holds a profiler event "fallback:<op>" open while it lives, so a host round
// trip is never silent. Use:
//   Dispatch run(Primitive::conv2d, x.device(), x.dtype());
//   Tensor out = empty(shape, dtype, run.device());           // where the kernel writes
//   run.backend().conv2d_forward(out, run.operand(xc), ...);
//   return run.result(out);                                   // back on x's device
#pragma once

#include <deque>
#include <optional>
#include <utility>

#include "tensor/backend.h"
#include "tensor/device_guard.h"
#include "tensor/profiler.h"
#include "tensor/tensor.h"

namespace ember::raw {

class Dispatch {
 public:
  enum class Route : uint8_t { own, host_in_place, host_copy };

  Dispatch(Primitive op, Device device, DType dtype);
  Dispatch(const Dispatch&) = delete;
  Dispatch& operator=(const Dispatch&) = delete;

  Route route() const { return route_; }
  bool is_fallback() const { return route_ != Route::own; }
  // The backend whose method runs the primitive: the device's, or the cpu's.
  Backend& backend() const { return *runner_; }
  // Where the kernel's operands and outputs live: the op's device, or the cpu on route 3.
  Device device() const { return route_ == Route::host_copy ? Device::cpu() : device_; }
  // t as the kernel reads it: t itself, or its host copy (undefined stays undefined).
  Tensor operand(const Tensor& t) const;
  // An output of the kernel, on the op's device.
  Tensor result(const Tensor& t) const;
  // For primitives that update tensors in place: t, or a host copy that write_back()
  // copies into t (undefined and null stay as they are).
  const Tensor* in_place(const Tensor* t);
  void write_back();

 private:
  Device device_;
  DeviceGuard guard_;  // the op's device is current while its primitive runs (issue 17)
  Route route_ = Route::own;
  Backend* runner_ = nullptr;
  std::deque<std::pair<Tensor, Tensor>> mirrors_;  // (device tensor, host copy); stable addresses
  std::optional<profiler::Range> event_;
};

// Forgets which fallback warnings were printed, so a test can watch one again.
void reset_fallback_warnings();

}  // namespace ember::raw
