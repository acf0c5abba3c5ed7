// A caching allocator for device memory, in the manner of PyTorch's CUDA allocator.
//
// cudaMalloc and cudaFree are slow (they synchronize the device), so freed blocks are
// kept in pools keyed by (stream, rounded size) and handed out again to the next request
// of that size on that stream. Reuse within one stream needs no synchronization: the
// stream runs the old user's work before the new user's. Sizes round up to 512 bytes
// below 1 MiB and to a quarter of their power of two above, so a training loop's
// recurring shapes hit the cache while at most 25% is lost to rounding.
//
// When the device is out of memory, the allocator returns every cached block to the
// device and tries once more; if that fails too it throws DeviceError naming the bytes
// requested, the bytes free on the device, and what ember holds.
//
// Device-independent: the device's raw allocation functions come in a DeviceMemoryApi,
// so the same code serves `cuda` and is tested on the host with a fake device.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "kernels/memory.h"

namespace ember::gpu {

struct DeviceMemoryApi {
  std::function<void*(size_t)> malloc;  // nullptr when out of memory
  std::function<void(void*)> free;
  std::function<void(size_t* free, size_t* total)> mem_info;
  std::function<void()> synchronize;  // before cached blocks go back
};

class CachingAllocator {
 public:
  CachingAllocator(DeviceMemoryApi api, std::string device_name);
  ~CachingAllocator() = default;
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t nbytes, void* stream);
  // False (and nothing done) when ptr is not one of this allocator's live blocks.
  bool deallocate(void* ptr) noexcept;
  // Returns every cached (free) block to the device.
  void empty_cache();
  MemoryStats stats() const;
  void reset_peak();

  static size_t round_size(size_t nbytes);

 private:
  struct Block {
    size_t size;
    void* stream;
  };
  void release_cached_locked();

  DeviceMemoryApi api_;
  std::string device_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Block> live_;                // handed out
  std::multimap<std::pair<void*, size_t>, void*> free_;  // (stream, size) -> cached block
  MemoryStats stats_;
};

}  // namespace ember::gpu
