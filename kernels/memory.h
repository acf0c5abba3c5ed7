// Device memory statistics and the cache of the GPU devices (sim, cuda), like
// torch.cuda.memory_stats() / empty_cache().
#pragma once

#include <cstdint>

#include "tensor/device.h"

namespace ember {

struct MemoryStats {
  int64_t allocated_bytes = 0;       // held by live allocations (rounded sizes on cuda)
  int64_t reserved_bytes = 0;        // taken from the device: allocated plus cached
  int64_t peak_allocated_bytes = 0;  // the most allocated_bytes since start or reset
  int64_t num_allocs = 0;            // allocation requests
  int64_t num_device_allocs = 0;     // requests that went to the device (cache misses)
  int64_t num_ooms = 0;              // device allocations that failed
};

// Throws DeviceError for cpu (which has no such statistics) or a device not built in. A
// DeviceType means the calling thread's current device of that type (tensor/device_guard.h),
// as torch.cuda.memory_stats() without an argument; a Device names one (issue 17): each
// device has its own allocator and statistics.
MemoryStats memory_stats(DeviceType device);
void reset_peak_memory_stats(DeviceType device);
MemoryStats memory_stats(Device device);
void reset_peak_memory_stats(Device device);
void empty_cache(Device device);
// Returns cached, unused blocks to the device: on cuda the caching allocator's, on cpu the
// shared cache of large host blocks (kernels/cpu/host_cache.h); a no-op on sim, which
// caches nothing.
void empty_cache(DeviceType device);

}  // namespace ember
