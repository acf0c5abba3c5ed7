// The runtime layer (kernels/cuda/runtime.h) of the cuda device, on the CUDA runtime.
//
// The device is opened lazily, on the first question about it, so a process that never
// touches the GPU never initializes the driver; with no driver or no GPU, available()
// is false and says why in props()'s error. All work runs on one non-blocking stream.
#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "kernels/cuda/caching_allocator.h"
#include "kernels/cuda/index_error.h"
#include "kernels/cuda/runtime.h"
#include "tensor/backends.h"
#include "tensor/error.h"
#include "tensor/pinned_memory.h"
#include "tensor/profiler.h"

static_assert(EMBER_VARIANT_IS_CUDA == 1, "the CUDA runtime layer belongs to the cuda build");

// A failed CUDA call: throws ember::Error with the call, file, line and CUDA's message.
#define EMBER_CUDA_CHECK(expr)                                                                  \
  do {                                                                                          \
    const cudaError_t ember_err_ = (expr);                                                      \
    if (ember_err_ != cudaSuccess)                                                              \
      ::ember::fail<::ember::Error>("cuda", __FILE__ ":" EMBER_STRINGIFY(__LINE__) ": ", #expr, \
                                    " failed: ", cudaGetErrorString(ember_err_));               \
  } while (0)

namespace ember::cuda_impl::rt {

namespace {

struct DeviceState {
  bool ok = false;
  std::string why;  // when !ok
  DeviceProps props;
  cudaStream_t stream = nullptr;
  std::unique_ptr<gpu::CachingAllocator> allocator;
};

DeviceState* open_device() {
  auto* d = new DeviceState;  // never destroyed: storages may be freed during exit
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    d->why = e != cudaSuccess ? cudaGetErrorString(e) : "no GPU is visible";
    cudaGetLastError();  // clear the sticky error
    return d;
  }
  cudaDeviceProp p{};
  if ((e = cudaSetDevice(0)) != cudaSuccess ||
      (e = cudaGetDeviceProperties(&p, 0)) != cudaSuccess ||
      (e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking)) != cudaSuccess) {
    d->why = cudaGetErrorString(e);
    return d;
  }
  d->props.name = p.name;
  d->props.major = p.major;
  d->props.minor = p.minor;
  d->props.sm_count = p.multiProcessorCount;
  d->props.max_threads_per_block = p.maxThreadsPerBlock;
  d->props.shared_per_block = p.sharedMemPerBlock;
  d->props.shared_per_block_optin = p.sharedMemPerBlockOptin;
  d->props.total_memory = p.totalGlobalMem;
  cudaStream_t stream = d->stream;
  d->allocator = std::make_unique<gpu::CachingAllocator>(
      gpu::DeviceMemoryApi{[](size_t n) -> void* {
                             void* ptr = nullptr;
                             if (cudaMalloc(&ptr, n) != cudaSuccess) {
                               cudaGetLastError();  // out of memory is not sticky; clear it
                               return nullptr;
                             }
                             return ptr;
                           },
                           [](void* ptr) { cudaFree(ptr); },
                           [](size_t* free_bytes, size_t* total) {
                             if (cudaMemGetInfo(free_bytes, total) != cudaSuccess)
                               *free_bytes = *total = 0;
                           },
                           [stream] { cudaStreamSynchronize(stream); }},
      "cuda:0 (" + d->props.name + ")");
  d->ok = true;
  return d;
}

DeviceState& state() {
  static DeviceState* d = open_device();
  return *d;
}

DeviceState& ready() {
  DeviceState& d = state();
  if (!d.ok) fail<DeviceError>("cuda", "no usable GPU: ", d.why);
  return d;
}

}  // namespace

bool available() { return state().ok; }
const DeviceProps& props() { return ready().props; }

void* allocate(size_t nbytes) {
  DeviceState& d = ready();
  return d.allocator->allocate(nbytes, d.stream);
}
void deallocate(void* ptr) noexcept {
  DeviceState& d = state();
  if (d.allocator) d.allocator->deallocate(ptr);
}
MemoryStats memory_stats() { return ready().allocator->stats(); }
void reset_peak_memory_stats() { ready().allocator->reset_peak(); }
void empty_cache() { ready().allocator->empty_cache(); }

void memcpy_h2d(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  profiler::record_transfer(profiler::Transfer::h2d, DeviceType::cuda, nbytes);
  DeviceState& d = ready();
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, d.stream));
  EMBER_CUDA_CHECK(cudaStreamSynchronize(d.stream));  // the caller may free host_src next
}
void memcpy_d2h(void* host_dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  profiler::record_transfer(profiler::Transfer::d2h, DeviceType::cuda, nbytes);
  DeviceState& d = ready();
  EMBER_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, d.stream));
  EMBER_CUDA_CHECK(cudaStreamSynchronize(d.stream));
  raise_recorded_index_error();
}
void memcpy_d2d(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, ready().stream));
}
void memset(void* dst, int byte, size_t nbytes) {
  if (nbytes == 0) return;
  EMBER_CUDA_CHECK(cudaMemsetAsync(dst, byte, nbytes, ready().stream));
}

Stream stream() { return ready().stream; }
void synchronize() {
  profiler::record_transfer(profiler::Transfer::sync, DeviceType::cuda);
  EMBER_CUDA_CHECK(cudaStreamSynchronize(ready().stream));
  raise_recorded_index_error();
}

// Mapped pinned host memory: kernels write it over the bus, the host reads it after a sync
// without a copy (so an error check costs no transfer).
namespace {
struct MappedSlot {
  IndexErrorSlot* host = nullptr;
  IndexErrorSlot* device = nullptr;
};
MappedSlot& mapped_slot() {
  static MappedSlot s = [] {
    ready();
    MappedSlot m;
    void* p = nullptr;
    EMBER_CUDA_CHECK(cudaHostAlloc(&p, sizeof(IndexErrorSlot), cudaHostAllocMapped));
    m.host = static_cast<IndexErrorSlot*>(p);
    *m.host = IndexErrorSlot{};
    void* dp = nullptr;
    EMBER_CUDA_CHECK(cudaHostGetDevicePointer(&dp, p, 0));
    m.device = static_cast<IndexErrorSlot*>(dp);
    return m;
  }();
  return s;
}
}  // namespace

IndexErrorSlot* index_error_slot() { return mapped_slot().device; }

void raise_recorded_index_error() {
  IndexErrorSlot* h = mapped_slot().host;
  if (h->flag == 0) return;
  const IndexErrorSlot e = *h;
  *h = IndexErrorSlot{};
  throw_index_error(e);
}

Event event_create() {
  cudaEvent_t e = nullptr;
  EMBER_CUDA_CHECK(cudaEventCreate(&e));
  return e;
}
void event_record(Event e) {
  EMBER_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(e), ready().stream));
}
float event_elapsed_ms(Event start, Event end) {
  EMBER_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(end)));
  float ms = 0;
  EMBER_CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)));
  return ms;
}
void event_destroy(Event e) noexcept { cudaEventDestroy(static_cast<cudaEvent_t>(e)); }

// pin_memory (issue 18): page-locked host memory for tensor/pinned_memory.h; copies from
// it are enqueued on the one stream and fenced by an event each.
std::optional<PinnedMemoryApi> pinned_memory_api() {
  if (!available()) return std::nullopt;
  PinnedMemoryApi api;
  api.name = "cuda (cudaHostAlloc)";
  api.copy_target = DeviceType::cuda;
  api.malloc = [](size_t n) -> void* {
    void* p = nullptr;
    if (cudaHostAlloc(&p, n, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();  // out of pinned memory is not sticky; clear it
      return nullptr;
    }
    return p;
  };
  api.free = [](void* p) { cudaFreeHost(p); };
  api.copy_to_device_async = [](void* dst, const void* src, size_t n) {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, ready().stream));
  };
  api.record_event = []() -> void* {
    cudaEvent_t e = nullptr;
    EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    EMBER_CUDA_CHECK(cudaEventRecord(e, ready().stream));
    return e;
  };
  // Any answer but "not ready" ends the wait: a failed stream reports at its next sync.
  api.event_done = [](void* e) {
    if (cudaEventQuery(static_cast<cudaEvent_t>(e)) != cudaErrorNotReady) return true;
    cudaGetLastError();  // "not ready" is reported as the last error; check_launch must not see it
    return false;
  };
  api.destroy_event = [](void* e) { cudaEventDestroy(static_cast<cudaEvent_t>(e)); };
  return api;
}

void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    fail<Error>("cuda", "kernel '", kernel, "' failed to launch: ", cudaGetErrorString(e));
  if (backends::cuda::sync_launches) {
    e = cudaStreamSynchronize(state().stream);
    if (e != cudaSuccess)
      fail<Error>("cuda", "kernel '", kernel, "' failed: ", cudaGetErrorString(e));
  }
}

}  // namespace ember::cuda_impl::rt
