// Small-object reuse for the objects every op creates (a TensorImpl and a Storage, each
// in one allocation with its shared_ptr control block): std::allocate_shared with
// PoolAllocator takes blocks from a per-thread free list and returns them there, so a
// small op makes no malloc/free pair for them. At most kPoolBlocks blocks of one size are
// kept per thread; the rest go back to operator delete, and so does each thread's list
// when the thread exits. A block freed on another thread joins that thread's list.
#pragma once

#include <array>
#include <cstddef>
#include <new>

#include "tensor/sanitizer.h"

namespace ember::detail {

// Under AddressSanitizer nothing is pooled or cached (here and in the cpu allocator), so
// that a use after free is still reported.
inline constexpr bool kAddressSanitizer = EMBER_HAS_ASAN;

inline constexpr int kPoolBlocks = kAddressSanitizer ? 0 : 256;

// The calling thread's free list of blocks of `Size` bytes (from `::operator new` with
// alignment `Align`), holding at most `Capacity`; null while the thread exits. The pooled
// objects below and the cpu device's small host blocks (kernels/cpu/host_cache.cpp) both
// keep their blocks here.
template <size_t Size, size_t Align, int Capacity = kPoolBlocks>
class FreeList {
 public:
  static FreeList* mine() {
    if (exited_) return nullptr;
    thread_local FreeList list;
    return &list;
  }
  void* pop() {
    if constexpr (Capacity == 0) {
      return nullptr;
    } else {
      return count_ > 0 ? blocks_[--count_] : nullptr;
    }
  }
  bool push(void* p) {
    if constexpr (Capacity == 0) {
      return false;
    } else {
      if (count_ >= Capacity) return false;
      blocks_[count_++] = p;
      return true;
    }
  }
  int count() const { return count_; }
  ~FreeList() {
    for (int i = 0; i < count_; ++i) ::operator delete (blocks_[i], std::align_val_t{Align});
    exited_ = true;
  }

 private:
  FreeList() = default;
  std::array<void*, (Capacity > 0 ? Capacity : 1)> blocks_{};
  int count_ = 0;
  static thread_local bool exited_;
};

template <size_t Size, size_t Align, int Capacity>
thread_local bool FreeList<Size, Align, Capacity>::exited_ = false;

template <typename T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <typename U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}  // NOLINT: rebinding is implicit by design

  T* allocate(size_t n) {
    if (n == 1)
      if (auto* list = FreeList<sizeof(T), alignof(T)>::mine())
        if (void* p = list->pop()) return static_cast<T*>(p);
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{alignof(T)}));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n == 1)
      if (auto* list = FreeList<sizeof(T), alignof(T)>::mine())
        if (list->push(p)) return;
    ::operator delete (p, std::align_val_t{alignof(T)});
  }
  template <typename U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace ember::detail
