#include "kernels/memory.h"

#include "kernels/cpu/host_cache.h"

#include "tensor/error.h"

// The two builds of kernels/cuda/runtime.h, declared by hand: a translation unit sees
// that header in one namespace only (kernels/cuda/variant.h).
namespace ember::sim_impl::rt {
MemoryStats memory_stats();
void reset_peak_memory_stats();
void empty_cache();
}  // namespace ember::sim_impl::rt
#if EMBER_HAVE_CUDA
namespace ember::cuda_impl::rt {
MemoryStats memory_stats();
void reset_peak_memory_stats();
void empty_cache();
}  // namespace ember::cuda_impl::rt
#endif

namespace ember {

namespace {

struct MemoryApi {
  MemoryStats (*stats)();
  void (*reset_peak)();
  void (*empty_cache)();
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

MemoryStats memory_stats(DeviceType device) { return api_of("memory_stats", device).stats(); }
void reset_peak_memory_stats(DeviceType device) {
  api_of("reset_peak_memory_stats", device).reset_peak();
}
void empty_cache(DeviceType device) {
  if (device == DeviceType::cpu) return cpu::host_empty_large_cache();
  api_of("empty_cache", device).empty_cache();
}

}  // namespace ember
