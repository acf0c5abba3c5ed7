#include "kernels/cpu/host_cache.h"

#include <array>
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>

#include "tensor/error.h"
#include "tensor/object_pool.h"

namespace ember::cpu {

namespace {

constexpr bool kCache = !detail::kAddressSanitizer;

constexpr int kMinShift = 6;                                  // 64 bytes
constexpr int kClasses = std::bit_width(kMaxCachedBytes) - kMinShift;  // 64 B .. 64 KiB: 11

// The size class of a cached request: block size 64 << class.
int size_class(size_t nbytes) {
  const size_t rounded = nbytes <= kHostAlignment ? kHostAlignment : std::bit_ceil(nbytes);
  return std::countr_zero(rounded) - kMinShift;
}

// One thread's free lists: fixed arrays, so the cache itself never allocates.
struct Cache {
  std::array<std::array<void*, kMaxCachedPerClass>, kClasses> blocks{};
  std::array<int, kClasses> count{};
  ~Cache() {
    for (int c = 0; c < kClasses; ++c)
      for (int i = 0; i < count[c]; ++i) std::free(blocks[c][i]);
    alive = false;
  }
  static thread_local bool alive;  // false once the thread's cache has been destroyed
};
thread_local bool Cache::alive = true;

// The calling thread's cache, or null while the thread is exiting (its cache is gone:
// blocks are then freed at once).
Cache* cache() {
  if (!Cache::alive) return nullptr;
  thread_local Cache c;
  return &c;
}

// Large blocks: one cache shared by all threads (they are rare next to the work done on
// them, so a mutex costs nothing measurable), keyed by the block size. Sizes are rounded
// up to one of 8 steps per power of two (at most 12.5% more), so a tensor of a slightly
// different size reuses a block too. A reused block is already mapped: no page faults,
// which for a fresh multi-megabyte block cost more than the op that writes it.
struct LargeCache {
  std::mutex mutex;
  std::multimap<size_t, void*> blocks;  // block size -> free block
  size_t bytes = 0;
};

LargeCache& large_cache() {
  static LargeCache* c = new LargeCache;  // never destroyed: tensors may die after static destruction
  return *c;
}

size_t large_block_size(size_t nbytes) {
  const size_t top = std::bit_floor(nbytes);
  const size_t step = top / 8;
  return (nbytes + step - 1) / step * step;
}

void* allocate_block(size_t bytes);

void* take_large(size_t nbytes) {
  const size_t size = large_block_size(nbytes);
  {
    LargeCache& c = large_cache();
    std::lock_guard lock(c.mutex);
    if (auto it = c.blocks.find(size); it != c.blocks.end()) {
      void* p = it->second;
      c.blocks.erase(it);
      c.bytes -= size;
      return p;
    }
  }
  return allocate_block(size);
}

void give_large(void* p, size_t nbytes) {
  const size_t size = large_block_size(nbytes);
  LargeCache& c = large_cache();
  {
    std::lock_guard lock(c.mutex);
    if (c.bytes + size <= kMaxLargeCachedBytes) {
      c.blocks.emplace(size, p);
      c.bytes += size;
      return;
    }
  }
  std::free(p);
}

void* allocate_block(size_t bytes) {
  void* p = std::aligned_alloc(kHostAlignment, bytes);
  if (p == nullptr) fail<ValueError>("allocate", "out of host memory allocating ", bytes, " bytes on cpu");
  return p;
}

}  // namespace

void* host_allocate(size_t nbytes) {
  if (kCache && nbytes <= kMaxCachedBytes) {
    const int c = size_class(nbytes);
    if (Cache* k = cache(); k != nullptr && k->count[c] > 0) return k->blocks[c][--k->count[c]];
    return allocate_block(size_t{1} << (c + kMinShift));
  }
  if (kCache) return take_large(nbytes);
  return allocate_block((nbytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment);
}

void host_deallocate(void* p, size_t nbytes) noexcept {
  if (p == nullptr) return;
  if (kCache && nbytes <= kMaxCachedBytes) {
    const int c = size_class(nbytes);
    if (Cache* k = cache(); k != nullptr && k->count[c] < kMaxCachedPerClass) {
      k->blocks[c][k->count[c]++] = p;
      return;
    }
  }
  if (kCache && nbytes > kMaxCachedBytes) return give_large(p, nbytes);
  std::free(p);
}

size_t host_cached_large_bytes() {
  LargeCache& c = large_cache();
  std::lock_guard lock(c.mutex);
  return c.bytes;
}

void host_empty_large_cache() {
  LargeCache& c = large_cache();
  std::lock_guard lock(c.mutex);
  for (auto& [size, p] : c.blocks) std::free(p);
  c.blocks.clear();
  c.bytes = 0;
}

size_t host_cached_blocks() {
  size_t n = 0;
  if (Cache* k = cache())
    for (int c = 0; c < kClasses; ++c) n += static_cast<size_t>(k->count[c]);
  return n;
}

size_t host_cached_bytes() {
  size_t n = 0;
  if (Cache* k = cache())
    for (int c = 0; c < kClasses; ++c) n += static_cast<size_t>(k->count[c]) << (c + kMinShift);
  return n;
}

}  // namespace ember::cpu
