#include "kernels/cuda/caching_allocator.h"

#include <algorithm>
#include <bit>

#include "tensor/error.h"

namespace ember::gpu {

CachingAllocator::CachingAllocator(DeviceMemoryApi api, std::string device_name)
    : api_(std::move(api)), device_(std::move(device_name)) {}

size_t CachingAllocator::round_size(size_t nbytes) {
  constexpr size_t kSmall = 512, kLarge = size_t{1} << 20;
  if (nbytes < kLarge) return std::max<size_t>(kSmall, (nbytes + kSmall - 1) / kSmall * kSmall);
  const size_t step = std::bit_floor(nbytes) / 4;
  return (nbytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t nbytes, void* stream) {
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.num_allocs++;
  void* ptr = nullptr;
  auto it = free_.find({stream, size});
  if (it != free_.end()) {
    ptr = it->second;
    free_.erase(it);
  } else {
    ptr = api_.malloc(size);
    if (ptr == nullptr) {
      stats_.num_ooms++;
      release_cached_locked();
      ptr = api_.malloc(size);
    }
    if (ptr == nullptr) {
      size_t free_bytes = 0, total = 0;
      api_.mem_info(&free_bytes, &total);
      fail<DeviceError>("allocate", "out of memory on ", device_, ": tried to allocate ", nbytes,
                        " bytes (", size, " rounded) with ", free_bytes, " bytes free of ", total,
                        "; ember holds ", stats_.allocated_bytes, " bytes in tensors and ",
                        stats_.reserved_bytes,
                        " reserved (its cache was emptied and the allocation retried)");
    }
    stats_.num_device_allocs++;
    stats_.reserved_bytes += static_cast<int64_t>(size);
  }
  live_.emplace(ptr, Block{size, stream});
  stats_.allocated_bytes += static_cast<int64_t>(size);
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return ptr;
}

bool CachingAllocator::deallocate(void* ptr) noexcept {
  if (ptr == nullptr) return true;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(ptr);
  if (it == live_.end()) return false;  // not ours: the caller may try another device's
  const Block b = it->second;
  live_.erase(it);
  stats_.allocated_bytes -= static_cast<int64_t>(b.size);
  free_.emplace(std::make_pair(b.stream, b.size), ptr);
  return true;
}

void CachingAllocator::release_cached_locked() {
  if (free_.empty()) return;
  api_.synchronize();  // the last user of a cached block may still be running
  for (const auto& [key, ptr] : free_) {
    api_.free(ptr);
    stats_.reserved_bytes -= static_cast<int64_t>(key.second);
  }
  free_.clear();
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
}

}  // namespace ember::gpu
