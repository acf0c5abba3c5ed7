// Pinned (page-locked) host memory, as PyTorch's CachingHostAllocator: Tensor::pin_memory()
// takes its storage from here, and a copy from it to a device is asynchronous.
//
// cudaHostAlloc and cudaFreeHost are slow (they map pages for the GPU and synchronize), so
// freed blocks are cached by size (rounded up to a power of two, as PyTorch) and handed out
// again. A block may still be read by a copy the device has not run yet: every
// asynchronous copy from a block records an event on the stream, and a freed block goes
// back to the cache only once all its events have completed. The storage that owned it
// can therefore die right after `x.pin_memory().to(cuda)` returns; its memory lives on
// until the copy is done.
//
// Device-independent: the device's functions come in a PinnedMemoryApi. kernels/cuda
// registers cuda's (cudaHostAlloc, cudaMemcpyAsync, events) through a provider asked on
// first use, so a process that never pins never touches the driver. Without a GPU the
// process allocator has plain host memory and no async target: pin_memory() still gives a
// tensor with is_pinned(), copies from it are ordinary ones. Tests install a fake api
// (set_pinned_host_allocator) to exercise the caching and the fences on any machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/tensor.h"

namespace ember {

struct PinnedMemoryApi {
  std::string name;  // for messages: "cuda (cudaHostAlloc)", "host (no GPU)"
  // The device that copies from this memory go to asynchronously; cpu: none (plain memory).
  DeviceType copy_target = DeviceType::cpu;
  std::function<void*(size_t)> malloc;  // nullptr when out of memory
  std::function<void(void*)> free;
  // Enqueues a copy host -> device on the target's current stream; returns before it runs.
  std::function<void(void* dst, const void* src, size_t nbytes)> copy_to_device_async;
  std::function<void*()> record_event;    // on the current stream, after the copy
  std::function<bool(void*)> event_done;  // without waiting
  std::function<void(void*)> destroy_event;
};

struct PinnedMemoryStats {
  int64_t allocated_bytes = 0;  // held by live blocks (rounded sizes)
  int64_t reserved_bytes = 0;   // taken with api.malloc: allocated, cached and fenced
  int64_t num_allocs = 0;       // allocation requests
  int64_t num_host_allocs = 0;  // requests that went to api.malloc (cache misses)
  int64_t fenced_blocks = 0;    // freed, waiting for a copy's event before reuse
  int64_t pending_events = 0;   // recorded and not yet seen completed
};

class CachingHostAllocator {
 public:
  explicit CachingHostAllocator(PinnedMemoryApi api);
  ~CachingHostAllocator();  // waits for nothing: returns every block it still holds
  CachingHostAllocator(const CachingHostAllocator&) = delete;
  CachingHostAllocator& operator=(const CachingHostAllocator&) = delete;

  const PinnedMemoryApi& api() const { return api_; }
  // A block of at least nbytes (round_size); throws DeviceError when the host is out of
  // pinned memory even after returning the cache.
  void* allocate(size_t nbytes);
  // Back to the cache, or fenced until the events recorded on it have completed.
  void deallocate(void* block) noexcept;
  // Copies nbytes at src (inside `block`) to dst on api().copy_target, asynchronously,
  // and fences the block with an event recorded after the copy.
  void copy_to_device_async(void* dst, const void* block, const void* src, size_t nbytes);
  bool owns(const void* block) const;  // a block handed out and not yet freed
  // Returns the cached blocks (not the fenced ones) with api.free.
  void empty_cache();
  PinnedMemoryStats stats() const;

  static size_t round_size(size_t nbytes);  // the next power of two, at least 512

 private:
  struct Block {
    size_t size = 0;
    bool live = false;
    std::vector<void*> events;  // recorded by copies from it, not yet seen completed
  };
  void process_events_locked();  // fenced blocks whose events completed -> cache
  static void reap(const PinnedMemoryApi& api, Block& b);  // drops completed events

  PinnedMemoryApi api_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Block> blocks_;  // every block taken with api.malloc
  std::multimap<size_t, void*> free_;        // size -> cached block
  std::vector<void*> fenced_;                // freed with events pending
  PinnedMemoryStats stats_;
};

// The process's pinned allocator, made on first use: cuda's when the cuda device is built
// and a GPU is present, else plain host memory (copy_target cpu).
std::shared_ptr<CachingHostAllocator> pinned_host_allocator();
// Replaces it (tests, with a fake api); returns the previous one. Blocks keep returning
// to the allocator that made them.
std::shared_ptr<CachingHostAllocator> set_pinned_host_allocator(
    std::shared_ptr<CachingHostAllocator> allocator);
// Whether pinning serves a device: the process allocator copies asynchronously to one
// (DataLoader's pin_memory pins only then). Makes the allocator (asks the provider).
bool pinned_memory_has_device();

namespace detail {
// kernels/cuda registers how to get cuda's api; nullopt when no GPU is usable.
void register_pinned_memory_provider(std::function<std::optional<PinnedMemoryApi>()> provider);
}  // namespace detail

// A contiguous copy of a cpu tensor in pinned memory (x itself when already pinned), as
// torch's x.pin_memory(); gradients pass through unchanged. Throws DeviceError for a
// tensor of another device. Also the methods Tensor::pin_memory() and Tensor::is_pinned().
Tensor pin_memory(const Tensor& x);
// Whether x's storage came from a pinned-memory allocator (views of it included).
bool is_pinned(const Tensor& x);

namespace raw {
// A contiguous copy of a cpu tensor in pinned memory; x when already pinned.
Tensor pin_memory(const Tensor& x);
bool is_pinned(const Tensor& x);
// When x is pinned and its allocator copies asynchronously to `device`: enqueues the copy
// of x (contiguous, nbytes) into dst and returns true; else false (copy it yourself).
bool copy_pinned_to_device_async(const Tensor& x, void* dst, Device device, size_t nbytes);
}  // namespace raw

}  // namespace ember
