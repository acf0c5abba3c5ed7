#include "kernels/cpu/host_cache.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <utility>

#include "tensor/error.h"
#include "tensor/object_pool.h"

namespace ember::cpu {

namespace {

constexpr bool kCache = !detail::kAddressSanitizer;

constexpr int kMinShift = 6;                                           // 64 bytes
constexpr int kClasses = std::bit_width(kMaxCachedBytes) - kMinShift;  // 64 B .. 64 KiB: 11

// The size class of a cached request: block size 64 << class.
int size_class(size_t nbytes) {
  const size_t rounded = nbytes <= kHostAlignment ? kHostAlignment : std::bit_ceil(nbytes);
  return std::countr_zero(rounded) - kMinShift;
}

// Small blocks: per-thread free lists (detail::FreeList), one per size class. A class
// number known at run time reaches its list through a table of functions, one per class.
template <int C>
using ClassList =
    detail::FreeList<(kHostAlignment << C), kHostAlignment, kCache ? kMaxCachedPerClass : 0>;

struct ClassOps {
  void* (*pop)();
  bool (*push)(void*);
  int (*count)();
};

template <int C>
constexpr ClassOps ops_of() {
  return {[]() -> void* {
            auto* l = ClassList<C>::mine();
            return l != nullptr ? l->pop() : nullptr;
          },
          [](void* p) {
            auto* l = ClassList<C>::mine();
            return l != nullptr && l->push(p);
          },
          []() {
            auto* l = ClassList<C>::mine();
            return l != nullptr ? l->count() : 0;
          }};
}

template <int... C>
constexpr std::array<ClassOps, sizeof...(C)> class_table(std::integer_sequence<int, C...>) {
  return {ops_of<C>()...};
}

constexpr std::array<ClassOps, kClasses> kClassOps =
    class_table(std::make_integer_sequence<int, kClasses>{});

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
  static LargeCache* c =
      new LargeCache;  // never destroyed: tensors may die after static destruction
  return *c;
}

size_t large_block_size(size_t nbytes) {
  const size_t top = std::bit_floor(nbytes);
  const size_t step = top / 8;
  return (nbytes + step - 1) / step * step;
}

void* allocate_block(size_t bytes);
void free_block(void* p) noexcept;

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
  free_block(p);
}

// Every host block comes from the aligned operator new, so the free lists can delete it.
void* allocate_block(size_t bytes) {
  void* p = ::operator new (bytes, std::align_val_t{kHostAlignment}, std::nothrow);
  if (p == nullptr)
    fail<ValueError>("allocate", "out of host memory allocating ", bytes, " bytes on cpu");
  return p;
}

void free_block(void* p) noexcept { ::operator delete (p, std::align_val_t{kHostAlignment}); }

}  // namespace

namespace {
// The byte every block handed out is filled with, or -1 (tests poison outputs with it:
// glibc's M_PERTURB fills fresh malloc blocks only, not the ones this cache reuses).
std::atomic<int> g_fill_byte{-1};

void* fill(void* p, size_t nbytes) {
  const int byte = g_fill_byte.load(std::memory_order_relaxed);
  if (byte >= 0 && p != nullptr) [[unlikely]]
    std::memset(p, byte, nbytes);
  return p;
}

void* allocate_unfilled(size_t nbytes) {
  if (kCache && nbytes <= kMaxCachedBytes) {
    const int c = size_class(nbytes);
    if (void* p = kClassOps[static_cast<size_t>(c)].pop()) return p;
    return allocate_block(size_t{1} << (c + kMinShift));
  }
  if (kCache) return take_large(nbytes);
  return allocate_block(std::max<size_t>(
      kHostAlignment, (nbytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment));
}
}  // namespace

void* host_allocate(size_t nbytes) { return fill(allocate_unfilled(nbytes), nbytes); }

void host_set_fill_byte(int byte) { g_fill_byte.store(byte < 0 ? -1 : (byte & 0xFF)); }

void host_deallocate(void* p, size_t nbytes) noexcept {
  if (p == nullptr) return;
  if (kCache && nbytes <= kMaxCachedBytes) {
    if (kClassOps[static_cast<size_t>(size_class(nbytes))].push(p)) return;
  } else if (kCache) {
    return give_large(p, nbytes);
  }
  free_block(p);
}

size_t host_cached_large_bytes() {
  LargeCache& c = large_cache();
  std::lock_guard lock(c.mutex);
  return c.bytes;
}

void host_empty_large_cache() {
  LargeCache& c = large_cache();
  std::lock_guard lock(c.mutex);
  for (auto& [size, p] : c.blocks) free_block(p);
  c.blocks.clear();
  c.bytes = 0;
}

size_t host_cached_blocks() {
  size_t n = 0;
  for (const ClassOps& ops : kClassOps) n += static_cast<size_t>(ops.count());
  return n;
}

size_t host_cached_bytes() {
  size_t n = 0;
  for (int c = 0; c < kClasses; ++c)
    n += static_cast<size_t>(kClassOps[static_cast<size_t>(c)].count()) << (c + kMinShift);
  return n;
}

}  // namespace ember::cpu
