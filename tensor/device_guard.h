// The current device of each device type, per thread, and a guard that scopes it, as
// torch.cuda.device / c10::cuda::CUDAGuard (issue 17, multidev).
//
// cuda and sim have several devices ("cuda:1", "sim:1"). Each thread has a current device
// per type (cudaSetDevice on cuda, a thread_local on sim); allocations, kernels, streams and
// cuBLAS/cuDNN handles of the backend go to it. Ops need not care: backend(Device) makes the
// tensor's device current before every backend call, and raw::Dispatch holds a DeviceGuard
// for the op's device while its primitive runs. Code that talks to a device directly (NCCL's
// communicator, a user's own kernels) opens a DeviceGuard or calls set_device.
#pragma once

#include "tensor/device.h"

namespace ember {

// How many devices of a type exist: 1 for cpu; the visible GPUs for cuda (0 without a
// driver or GPU, or when ember is built without CUDA); for sim 2, or EMBER_SIM_DEVICES
// (read once, 1..16).
int device_count(DeviceType type);
// The calling thread's current device of `type` (index 0 until set).
Device current_device(DeviceType type);
// Makes d current for its type on this thread; DeviceError for an ordinal >= device_count.
void set_device(Device d);

// Makes `device` current for its type on construction and restores the type's previous
// current device on destruction (also when leaving by an exception). A cpu device is a no-op.
class DeviceGuard {
 public:
  explicit DeviceGuard(Device device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

  Device original_device() const { return original_; }
  Device current_device() const { return current_; }

 private:
  Device original_;
  Device current_;
};

}  // namespace ember
