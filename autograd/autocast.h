// autocast: mixed precision per op, as torch.autocast (issue 16; docs/amp.md).
//
//   {
//     ember::autocast guard(DeviceType::cpu, DType::bf16);   // torch.autocast("cpu", bf16)
//     Tensor logits = model->forward(x);    // linear, matmul, conv, attention: in bf16
//     Tensor loss = F::cross_entropy(logits, y);  // losses, softmax, norms, reductions: f32
//   }
//   loss.backward();                        // f32 leaves receive f32 gradients
//
// The state is per thread and per device type (cpu, cuda, sim): a guard for one type leaves
// ops on the others' tensors alone. An op takes the state of its first tensor's device. A
// guard saves the state it replaces and restores it when it leaves scope, so guards nest and
// `enabled = false` switches autocast off for an inner region. The casts are the ordinary
// differentiable `to(dtype)`, recorded by autograd. Inside a region, the lower-precision cast
// of a leaf f32 tensor that requires grad (a weight) is made once and reused by every op
// that needs it (torch's cast cache), until the outermost guard of the thread exits.
#pragma once

#include <optional>

#include "tensor/device.h"
#include "tensor/dtype.h"

namespace ember {

// torch.autocast(device_type, dtype, enabled, cache_enabled). dtype: bf16 or f16 (else a
// ValueError); nullopt keeps the device's current autocast dtype (torch's defaults: bf16 on
// cpu, f16 on cuda and sim).
class autocast {
 public:
  explicit autocast(DeviceType device, std::optional<DType> dtype = std::nullopt,
                    bool enabled = true, bool cache_enabled = true);
  ~autocast();
  autocast(const autocast&) = delete;
  autocast& operator=(const autocast&) = delete;

 private:
  DeviceType device_;
  bool prev_enabled_;
  DType prev_dtype_;
  bool prev_cache_enabled_;
};

bool is_autocast_enabled(DeviceType device);
DType get_autocast_dtype(DeviceType device);
// torch.set_autocast_enabled / set_autocast_dtype: change the state without a guard (the
// caller restores it). set_autocast_dtype takes bf16 or f16.
void set_autocast_enabled(DeviceType device, bool enabled);
void set_autocast_dtype(DeviceType device, DType dtype);
bool is_autocast_cache_enabled();
void set_autocast_cache_enabled(bool enabled);
// Drops this thread's cached weight casts (the outermost guard's exit does it).
void clear_autocast_cache();

}  // namespace ember
