// The runtime layer (kernels/cuda/runtime.h) of the cuda device, on the CUDA runtime.
//
// The device is opened lazily, on the first question about it, so a process that never
// touches the GPU never initializes the driver; with no driver or no GPU, available()
// is false and says why in props()'s error. All work of a device runs on one non-blocking
// stream of its own. Several GPUs (issue 17): each ordinal has its own DeviceState (stream,
// caching allocator, index error slot), made on the first use of that ordinal; the calling
// thread's current device is the CUDA runtime's (cudaSetDevice).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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

// The GPUs visible, asked once; 0 with why() saying why when there is none.
struct Probe {
  int count = 0;
  std::string why;
};
const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    cudaError_t e = cudaGetDeviceCount(&r.count);
    if (e != cudaSuccess || r.count == 0) {
      r.why = e != cudaSuccess ? cudaGetErrorString(e) : "no GPU is visible";
      r.count = 0;
      cudaGetLastError();  // clear the sticky error
    }
    return r;
  }();
  return p;
}

// Opens ordinal `index`: its properties, its stream and its caching allocator.
DeviceState* open_device(int index) {
  auto* d = new DeviceState;  // never destroyed: storages may be freed during exit
  if (probe().count == 0) {
    d->why = probe().why;
    return d;
  }
  // Opening another ordinal (a peer copy's source, memory_stats(cuda:1)) leaves the
  // thread's current device as it was.
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = index;
  struct Restore {
    int to;
    ~Restore() { cudaSetDevice(to); }
  } restore{previous};
  cudaDeviceProp p{};
  cudaError_t e;
  if ((e = cudaSetDevice(index)) != cudaSuccess ||
      (e = cudaGetDeviceProperties(&p, index)) != cudaSuccess ||
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
      "cuda:" + std::to_string(index) + " (" + d->props.name + ")");
  d->ok = true;
  return d;
}

// The state of ordinal `index`, opened on its first use; with no GPU, the one slot says why.
std::mutex g_states_mu;
std::vector<DeviceState*>& states() {  // by ordinal; null until opened; never destroyed
  static auto* s =
      new std::vector<DeviceState*>(static_cast<size_t>(std::max(probe().count, 1)), nullptr);
  return *s;
}

DeviceState& state_of(int index) {
  std::lock_guard lock(g_states_mu);
  DeviceState*& d = states()[static_cast<size_t>(index)];
  if (d == nullptr) d = open_device(index);
  return *d;
}

// The thread's current GPU. Never throws: deallocate (noexcept) asks it, also while the
// process exits; a failure reads as device 0.
int current() noexcept {
  if (probe().count == 0) return 0;
  int index = 0;
  if (cudaGetDevice(&index) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return index;
}

DeviceState& state() { return state_of(current()); }

DeviceState& ready() {
  DeviceState& d = state();
  if (!d.ok) fail<DeviceError>("cuda", "no usable GPU: ", d.why);
  return d;
}

}  // namespace

bool available() { return state_of(0).ok; }

int device_count() { return probe().count; }
int current_device() { return current(); }
void set_device(int index) {
  if (current() != index) EMBER_CUDA_CHECK(cudaSetDevice(index));
}

MemoryStats memory_stats(int index) {
  DeviceState& d = state_of(index);
  if (!d.ok) fail<DeviceError>("cuda", "no usable GPU: ", d.why);
  return d.allocator->stats();
}
void reset_peak_memory_stats(int index) {
  DeviceState& d = state_of(index);
  if (d.ok) d.allocator->reset_peak();
}
void empty_cache(int index) {
  DeviceState& d = state_of(index);
  if (d.ok) d.allocator->empty_cache();
}

// Peer to peer: the source's queued kernels finish first, the copy runs on the destination's
// stream (cudaMemcpyPeerAsync goes through the host when the two GPUs have no peer access),
// and it is waited for, so either side may be freed or reused once this returns.
void memcpy_peer(void* dst, int dst_index, const void* src, int src_index, size_t nbytes) {
  if (nbytes == 0) return;
  EMBER_CUDA_CHECK(cudaStreamSynchronize(state_of(src_index).stream));
  cudaStream_t s = state_of(dst_index).stream;
  EMBER_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_index, src, src_index, nbytes, s));
  EMBER_CUDA_CHECK(cudaStreamSynchronize(s));
}
const DeviceProps& props() { return ready().props; }

void* allocate(size_t nbytes) {
  DeviceState& d = ready();
  return d.allocator->allocate(nbytes, d.stream);
}
// The block's own allocator takes it back, whichever device is current: the current one's
// is asked first (the usual case), then every other opened device's.
void deallocate(void* ptr) noexcept {
  DeviceState& d = state();
  if (d.allocator && d.allocator->deallocate(ptr)) return;
  std::lock_guard lock(g_states_mu);  // then an allocator's own mutex: never the reverse
  for (DeviceState* other : states())
    if (other != nullptr && other != &d && other->allocator && other->allocator->deallocate(ptr))
      return;
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
// without a copy (so an error check costs no transfer). One per device, made with it current.
namespace {
struct MappedSlot {
  IndexErrorSlot* host = nullptr;
  IndexErrorSlot* device = nullptr;
};
MappedSlot make_mapped_slot() {
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
}
MappedSlot& mapped_slot() {
  static std::mutex mu;
  static auto* slots =
      new std::vector<std::optional<MappedSlot>>(static_cast<size_t>(std::max(probe().count, 1)));
  const int index = current();
  std::lock_guard lock(mu);
  std::optional<MappedSlot>& s = (*slots)[static_cast<size_t>(index)];
  if (!s) s = make_mapped_slot();
  return *s;
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
