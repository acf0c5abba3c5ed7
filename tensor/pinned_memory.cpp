#include "tensor/pinned_memory.h"

#include <bit>
#include <cstdlib>
#include <cstring>

#include "tensor/backend.h"
#include "tensor/device_guard.h"
#include "tensor/error.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember {

// ---- CachingHostAllocator -----------------------------------------------------------------

CachingHostAllocator::CachingHostAllocator(PinnedMemoryApi api) : api_(std::move(api)) {
  EMBER_CHECK(api_.malloc && api_.free, "a PinnedMemoryApi needs malloc and free");
}

CachingHostAllocator::~CachingHostAllocator() {
  // Live storages hold a shared_ptr to their allocator, so only cached and fenced blocks
  // are left; a fenced one's copy is the device's, which outlives a process-level object
  // only at exit.
  for (auto& [ptr, b] : blocks_) {
    if (api_.destroy_event)
      for (void* e : b.events) api_.destroy_event(e);
    api_.free(ptr);
  }
}

size_t CachingHostAllocator::round_size(size_t nbytes) {
  return std::bit_ceil(std::max<size_t>(nbytes, 512));
}

void CachingHostAllocator::reap(const PinnedMemoryApi& api, Block& b) {
  std::erase_if(b.events, [&](void* e) {
    if (!api.event_done(e)) return false;
    api.destroy_event(e);
    return true;
  });
}

void CachingHostAllocator::process_events_locked() {
  std::erase_if(fenced_, [&](void* ptr) {
    Block& b = blocks_.at(ptr);
    reap(api_, b);
    if (!b.events.empty()) return false;
    free_.emplace(b.size, ptr);
    return true;
  });
}

void* CachingHostAllocator::allocate(size_t nbytes) {
  const size_t size = round_size(nbytes);
  std::lock_guard lock(mu_);
  ++stats_.num_allocs;
  process_events_locked();
  void* ptr = nullptr;
  if (auto it = free_.find(size); it != free_.end()) {
    ptr = it->second;
    free_.erase(it);
  } else {
    ptr = api_.malloc(size);
    if (ptr == nullptr) {  // return the cache and try once more
      for (auto& [s, p] : free_) {
        api_.free(p);
        blocks_.erase(p);
        stats_.reserved_bytes -= static_cast<int64_t>(s);
      }
      free_.clear();
      ptr = api_.malloc(size);
    }
    if (ptr == nullptr)
      fail<DeviceError>("pin_memory", "out of pinned host memory: ", nbytes, " bytes requested (",
                        size, " rounded) from ", api_.name, "; ", stats_.allocated_bytes,
                        " bytes held by live pinned tensors");
    blocks_[ptr].size = size;
    ++stats_.num_host_allocs;
    stats_.reserved_bytes += static_cast<int64_t>(size);
  }
  blocks_.at(ptr).live = true;
  stats_.allocated_bytes += static_cast<int64_t>(size);
  return ptr;
}

void CachingHostAllocator::deallocate(void* block) noexcept {
  std::lock_guard lock(mu_);
  auto it = blocks_.find(block);
  if (it == blocks_.end() || !it->second.live) return;  // not ours: nothing to return
  Block& b = it->second;
  b.live = false;
  stats_.allocated_bytes -= static_cast<int64_t>(b.size);
  if (!b.events.empty()) reap(api_, b);
  if (b.events.empty()) {
    free_.emplace(b.size, block);
  } else {
    fenced_.push_back(block);  // a copy from it may still be running
  }
}

void CachingHostAllocator::copy_to_device_async(void* dst, const void* block, const void* src,
                                                size_t nbytes) {
  EMBER_CHECK(api_.copy_to_device_async && api_.record_event, api_.name, " copies to no device");
  std::lock_guard lock(mu_);
  auto it = blocks_.find(const_cast<void*>(block));
  EMBER_CHECK(it != blocks_.end() && it->second.live, "copy from a block this allocator lent");
  Block& b = it->second;
  api_.copy_to_device_async(dst, src, nbytes);
  reap(api_, b);  // a tensor copied every step keeps one or two events, not thousands
  b.events.push_back(api_.record_event());
}

bool CachingHostAllocator::owns(const void* block) const {
  std::lock_guard lock(mu_);
  auto it = blocks_.find(const_cast<void*>(block));
  return it != blocks_.end() && it->second.live;
}

void CachingHostAllocator::empty_cache() {
  std::lock_guard lock(mu_);
  process_events_locked();
  for (auto& [s, p] : free_) {
    api_.free(p);
    blocks_.erase(p);
    stats_.reserved_bytes -= static_cast<int64_t>(s);
  }
  free_.clear();
}

PinnedMemoryStats CachingHostAllocator::stats() const {
  std::lock_guard lock(mu_);
  PinnedMemoryStats s = stats_;
  s.fenced_blocks = static_cast<int64_t>(fenced_.size());
  for (const auto& [p, b] : blocks_) s.pending_events += static_cast<int64_t>(b.events.size());
  return s;
}

// ---- the process allocator ----------------------------------------------------------------

namespace {

struct Registry {
  std::mutex mu;
  std::function<std::optional<PinnedMemoryApi>()> provider;
  std::shared_ptr<CachingHostAllocator> current;
  // Every allocator that lent blocks (tests replace the current one while tensors pinned
  // by the old one live on): is_pinned asks each.
  std::vector<std::weak_ptr<CachingHostAllocator>> all;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: pinned storages may die at exit
  return *r;
}

// Plain host memory with nothing to wait for: pin_memory() works without a GPU.
PinnedMemoryApi plain_host_api() {
  PinnedMemoryApi api;
  api.name = "host memory (no GPU: not page-locked)";
  api.malloc = [](size_t n) { return std::aligned_alloc(64, n); };
  api.free = [](void* p) { std::free(p); };
  return api;
}

std::shared_ptr<CachingHostAllocator> owner_of(const void* block) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (const auto& w : r.all)
    if (auto a = w.lock(); a && a->owns(block)) return a;
  return nullptr;
}

}  // namespace

std::shared_ptr<CachingHostAllocator> pinned_host_allocator() {
  (void)backend(DeviceType::cpu);  // the built-in backends register their provider first
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  if (!r.current) {
    std::optional<PinnedMemoryApi> api = r.provider ? r.provider() : std::nullopt;
    r.current = std::make_shared<CachingHostAllocator>(api ? std::move(*api) : plain_host_api());
    r.all.push_back(r.current);
  }
  return r.current;
}

std::shared_ptr<CachingHostAllocator> set_pinned_host_allocator(
    std::shared_ptr<CachingHostAllocator> allocator) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::erase_if(r.all, [](const auto& w) { return w.expired(); });
  if (allocator) r.all.push_back(allocator);
  std::swap(r.current, allocator);
  return allocator;
}

bool pinned_memory_has_device() {
  return pinned_host_allocator()->api().copy_target != DeviceType::cpu;
}

void detail::register_pinned_memory_provider(
    std::function<std::optional<PinnedMemoryApi>()> provider) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.provider = std::move(provider);
}

// ---- tensors ------------------------------------------------------------------------------

namespace raw {

bool is_pinned(const Tensor& x) {
  return x.defined() && x.device().is_cpu() && owner_of(x.storage()->data()) != nullptr;
}

Tensor pin_memory(const Tensor& x) {
  const profiler::OpScope profile("pin_memory");
  check_defined("pin_memory", x);
  if (!x.device().is_cpu())
    fail<DeviceError>("pin_memory", "only cpu tensors can be pinned, got a ", x.device().str(),
                      " tensor of shape ", str(x.sizes()));
  if (raw::is_pinned(x)) return x;
  std::shared_ptr<CachingHostAllocator> alloc = pinned_host_allocator();
  const size_t nbytes = static_cast<size_t>(x.numel()) * x.element_size();
  void* block = alloc->allocate(nbytes);
  // The storage holds its allocator, so a block always returns where it came from.
  auto storage = std::make_shared<Storage>(Device::cpu(), block, nbytes,
                                           [alloc](void* p) { alloc->deallocate(p); });
  Tensor out =
      make_tensor(std::move(storage), x.sizes(), contiguous_strides(x.sizes()), 0, x.dtype());
  if (nbytes > 0) backend(Device::cpu()).copy(out, x);
  return out;
}

bool copy_pinned_to_device_async(const Tensor& x, void* dst, Device device, size_t nbytes) {
  if (!x.device().is_cpu()) return false;
  void* block = x.storage()->data();
  std::shared_ptr<CachingHostAllocator> alloc = owner_of(block);
  if (!alloc || alloc->api().copy_target != device.type) return false;
  profiler::record_transfer(profiler::Transfer::h2d, device.type, nbytes);
  const DeviceGuard guard(device);  // onto the stream of dst's device (issue 17, multidev)
  alloc->copy_to_device_async(dst, block, x.raw_data(), nbytes);
  return true;
}

}  // namespace raw

bool is_pinned(const Tensor& x) { return raw::is_pinned(x); }

Tensor Tensor::pin_memory() const { return ember::pin_memory(*this); }
bool Tensor::is_pinned() const { return ember::is_pinned(*this); }

}  // namespace ember
