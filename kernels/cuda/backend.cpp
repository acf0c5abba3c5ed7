// DeviceBackend (kernels/cuda/device_backend.h), the part every device has: which
// primitives it serves, memory, devices and copies between them, copies between layouts and
// dtypes, fill; and device_backend(), the one instance. The families' methods live beside it
// in backend_<family>.cpp. Host code only: compiled once for `sim` and once, with
// EMBER_VARIANT_CUDA=1, for `cuda` (kernels/CMakeLists.txt).
#include "kernels/cuda/device_backend.h"

#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/plan.h"
#include "kernels/cuda/runtime.h"

namespace ember::EMBER_VARIANT {

bool DeviceBackend::available() const { return rt::available(); }

// Every primitive of the contract has kernels here; the fused nn ones for f32 and f64.
bool DeviceBackend::supports(Primitive op, DType dtype) const {
  // bf16/f16 (issue 16): the norms and cross entropy through f32 (kernels/half_operands.h),
  // embedding in its own kernels.
  if (op == Primitive::cross_entropy || op == Primitive::layer_norm || op == Primitive::embedding ||
      op == Primitive::batch_norm || op == Primitive::group_norm || op == Primitive::rms_norm)
    return is_floating(dtype);
  if (op == Primitive::pool2d || op == Primitive::upsample_bilinear)
    return is_floating(dtype);  // bf16/f16: f32 math in the kernels (issue 16, halfnn2)
  if (op == Primitive::scan) return dtype != DType::b8;
  if (op == Primitive::lstm_cell || op == Primitive::gru_cell)  // issue 15, rnn
    return is_floating(dtype);  // bf16/f16: f32 math in the kernels (issue 16, halfnn2)
  if (op == Primitive::sort) return dtype != DType::b8;  // sorting and sampling (issue 15)
  // multinomial: bf16/f16 weights too (issue 16, halfcases)
  if (op == Primitive::multinomial) return is_floating(dtype);
  if (op == Primitive::gelu_backward)  // issue 15, perf
    return is_floating(dtype);         // bf16/f16: kernels/half_operands_nn.h (issue 16, halfnn2)
  return true;
}

void* DeviceBackend::allocate(size_t nbytes) { return rt::allocate(nbytes); }

void DeviceBackend::deallocate(void* ptr, size_t) noexcept { rt::deallocate(ptr); }

void DeviceBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  rt::memcpy_h2d(dst, host_src, nbytes);
}

void DeviceBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  rt::memcpy_d2h(host_dst, src, nbytes);
}

void DeviceBackend::synchronize() { rt::synchronize(); }

// Several devices (issue 17): the runtime keeps one state per ordinal.
int DeviceBackend::device_count() const { return rt::device_count(); }

int DeviceBackend::current_device() const { return rt::current_device(); }

void DeviceBackend::set_device(int index) { rt::set_device(index); }

void DeviceBackend::copy_peer(void* dst, int dst_index, const void* src, int src_index,
                              size_t nbytes) {
  rt::memcpy_peer(dst, dst_index, src, src_index, nbytes);
}

void DeviceBackend::copy(const Tensor& out, const Tensor& in) {
  auto p = plan<2>({&out, &in});
  if (out.dtype() == in.dtype() && p.contiguous()) {
    rt::memcpy_d2d(p.base[0], p.base[1], static_cast<size_t>(p.numel) * out.element_size());
    return;
  }
  for_each_chunk(p, [&](const Geometry<2>& g, bool contiguous, const std::array<char*, 2>& ptr) {
    launch_copy(out.dtype(), in.dtype(), g, contiguous, ptr[0], ptr[1]);
  });
}

void DeviceBackend::fill(const Tensor& out, const Scalar& value) {
  for_each_chunk(plan<1>({&out}),
                 [&](const Geometry<1>& g, bool contiguous, const std::array<char*, 1>& ptr) {
                   launch_fill(out.dtype(), g, contiguous, ptr[0], value);
                 });
}

Backend& device_backend() {
  // Never destroyed, as the cpu backend (kernels/cpu/cpu_backend.cpp): tensors released
  // during static destruction still free through it.
  static DeviceBackend* const backend = new DeviceBackend;
  return *backend;
}

}  // namespace ember::EMBER_VARIANT
