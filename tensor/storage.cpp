#include "tensor/storage.h"

#include "tensor/backend.h"
#include "tensor/profiler.h"

namespace ember {

namespace {
std::atomic<int64_t> g_live_count{0};
std::atomic<int64_t> g_live_bytes{0};
}  // namespace

Storage::Storage(Device device, size_t nbytes) : device_(device), nbytes_(nbytes) {
  data_ = backend(device).allocate(nbytes);
  profiler::record_allocation(nbytes);
  g_live_count.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed);
}

Storage::Storage(Device device, void* data, size_t nbytes, std::function<void(void*)> deleter)
    : device_(device), data_(data), nbytes_(nbytes), owned_(false), deleter_(std::move(deleter)) {
  g_live_count.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed);
}

Storage::~Storage() {
  if (owned_) {
    backend(device_).deallocate(data_, nbytes_);
  } else if (deleter_) {
    deleter_(data_);
  }
  g_live_count.fetch_sub(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(static_cast<int64_t>(nbytes_), std::memory_order_relaxed);
}

int64_t Storage::live_count() { return g_live_count.load(); }
int64_t Storage::live_bytes() { return g_live_bytes.load(); }

}  // namespace ember
