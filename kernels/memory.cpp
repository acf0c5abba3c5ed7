#include "kernels/memory.h"

#include "kernels/cpu/host_cache.h"

#include "tensor/backend.h"
#include "tensor/device_guard.h"
#include "tensor/error.h"

// The two builds of kernels/cuda/runtime.h, declared by hand: a translation unit sees
// that header in one namespace only (kernels/cuda/variant.h).
namespace ember::sim_impl::rt {
MemoryStats memory_stats(int index);
void reset_peak_memory_stats(int index);
void empty_cache(int index);
}  // namespace ember::sim_impl::rt
#if EMBER_HAVE_CUDA
namespace ember::cuda_impl::rt {
MemoryStats memory_stats(int index);
void reset_peak_memory_stats(int index);
void empty_cache(int index);
}  // namespace ember::cuda_impl::rt
#endif

namespace ember {

namespace {

struct MemoryApi {
  MemoryStats (*stats)(int index);
  void (*reset_peak)(int index);
  void (*empty_cache)(int index);
};

const MemoryApi& api_of(const char* op, DeviceType device) {
  static const MemoryApi sim{&sim_impl::rt::memory_stats, &sim_impl::rt::reset_peak_memory_stats,
                             &sim_impl::rt::empty_cache};
  if (device == DeviceType::sim) return sim;
#if EMBER_HAVE_CUDA
  static const MemoryApi cuda{&cuda_impl::rt::memory_stats, &cuda_impl::rt::reset_peak_memory_stats,
                              &cuda_impl::rt::empty_cache};
  if (device == DeviceType::cuda) return cuda;
#endif
  fail<DeviceError>(op, "device ", Device(device).str(), " keeps no memory statistics",
                    device == DeviceType::cuda ? " (this ember was built without CUDA)" : "");
}

}  // namespace

MemoryStats memory_stats(DeviceType device) { return memory_stats(current_device(device)); }
void reset_peak_memory_stats(DeviceType device) { reset_peak_memory_stats(current_device(device)); }
void empty_cache(DeviceType device) {
  if (device == DeviceType::cpu) return cpu::host_empty_large_cache();
  empty_cache(current_device(device));
}

// The guard checks the ordinal (a DeviceError naming the count) before the runtime
// indexes its per-device state with it.
MemoryStats memory_stats(Device device) {
  const MemoryApi& api = api_of("memory_stats", device.type);
  const DeviceGuard guard(device);
  return api.stats(device.index);
}
void reset_peak_memory_stats(Device device) {
  const MemoryApi& api = api_of("reset_peak_memory_stats", device.type);
  const DeviceGuard guard(device);
  api.reset_peak(device.index);
}
void empty_cache(Device device) {
  if (device.is_cpu()) return cpu::host_empty_large_cache();
  const MemoryApi& api = api_of("empty_cache", device.type);
  const DeviceGuard guard(device);
  api.empty_cache(device.index);
}

}  // namespace ember
