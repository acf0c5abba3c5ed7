#include "kernels/cpu/host_cache.h"

#include <array>
#include <bit>
#include <cstdlib>

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
  const size_t rounded = nbytes == 0 ? kHostAlignment : (nbytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  return allocate_block(rounded);
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
  std::free(p);
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
