// The cpu device's allocator: small blocks are kept on a per-thread free list when their
// tensor dies and handed out again, so a small op does not pay malloc and free (or, for
// aligned memory, glibc's slow memalign path) every time.
//
// Larger blocks are kept in one cache shared by all threads, up to kMaxLargeCachedBytes
// in all, and reused for a request of the same rounded size (8 size steps per power of
// two): a reused block is already mapped, so a large temporary made every training step
// costs no page faults after the first step.
//
// Blocks up to kMaxCachedBytes are rounded up to a power of two (at least 64 bytes, the
// alignment of every cpu tensor) and cached per thread, at most kMaxCachedPerClass per
// size class; larger blocks go straight to aligned_alloc/free. A block freed on another
// thread than the one that allocated it joins the freeing thread's cache (any thread may
// reuse any block: they all come from the same malloc). Each thread's cache is returned
// to malloc when the thread exits. The bound keeps what sits unused in caches under
// 2 * kMaxCachedBytes * kMaxCachedPerClass per thread (8 MiB), so the cache does not
// raise peak memory measurably.
//
// Under AddressSanitizer (EMBER_SANITIZE) nothing is cached, so a use after free of
// tensor memory is still reported.
#pragma once

#include <cstddef>

namespace ember::cpu {

inline constexpr size_t kHostAlignment = 64;
inline constexpr size_t kMaxCachedBytes = 64 * 1024;
inline constexpr int kMaxCachedPerClass = 64;
inline constexpr size_t kMaxLargeCachedBytes = size_t{256} << 20;

// nbytes may be 0 (a 64-byte block is returned). Throws ember::Error when out of memory.
void* host_allocate(size_t nbytes);
// nbytes as given to host_allocate.
void host_deallocate(void* p, size_t nbytes) noexcept;

// Fills every block host_allocate hands out from now on, cached or fresh, with `byte`
// (0..255), or stops filling (-1). Tests poison outputs with it, so an element a kernel
// forgets to write cannot pass for a right answer.
void host_set_fill_byte(int byte);

// Blocks sitting in this thread's cache, and their bytes (for tests).
size_t host_cached_blocks();
size_t host_cached_bytes();
// Bytes in the shared large-block cache, and a way to give them back to the system.
size_t host_cached_large_bytes();
void host_empty_large_cache();

}  // namespace ember::cpu
