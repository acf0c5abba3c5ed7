// The thin runtime layer under both builds of kernels/cuda: memory, copies, the stream,
// events and launch checks. On `cuda` it maps to the CUDA runtime (runtime_cuda.cpp);
// on `sim` to host memory with guard bytes (kernels/sim/runtime_sim.cpp). No CUDA header
// is needed to include it, so host code of both builds uses it alike.
//
// Every call runs on one stream per device, in order; the copies to the host return
// when the data is there (they synchronize the stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/cuda/variant.h"
#include "kernels/memory.h"

namespace ember::EMBER_VARIANT::rt {

using Stream = void*;  // cudaStream_t on cuda; unused on sim
using Event = void*;   // cudaEvent_t on cuda; a host timestamp on sim

struct DeviceProps {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int sm_count = 1;          // multiprocessors (sim: OS threads running blocks)
  int max_threads_per_block = 1024;
  size_t shared_per_block = 48 * 1024;  // without opting in
  size_t shared_per_block_optin = 48 * 1024;
  size_t total_memory = 0;
};

// Whether the device can run work now (cuda: a driver and a GPU; sim: always).
bool available();
// Properties of the current device; throws DeviceError when !available().
const DeviceProps& props();

// Several devices (issue 17, multidev). Every other function here acts on the calling
// thread's current device, whose state (memory and its statistics, stream, events, index
// error slot, library handles) is made on its first use. cuda: cudaGetDeviceCount (0
// without a GPU) and cudaSetDevice; sim: EMBER_SIM_DEVICES or 2, and a thread_local.
int device_count();
int current_device();
void set_device(int index);  // 0 <= index < device_count(), checked by backend(Device)
MemoryStats memory_stats(int index);
void reset_peak_memory_stats(int index);
void empty_cache(int index);
// Copies nbytes from src on device src_index to dst on device dst_index; returns when done.
void memcpy_peer(void* dst, int dst_index, const void* src, int src_index, size_t nbytes);

// Device memory: the caching allocator on cuda, guarded host memory on sim. allocate
// throws ember::Error naming the requested and free bytes when memory runs out.
void* allocate(size_t nbytes);
void deallocate(void* ptr) noexcept;
MemoryStats memory_stats();
void reset_peak_memory_stats();
void empty_cache();

void memcpy_h2d(void* dst, const void* host_src, size_t nbytes);
void memcpy_d2h(void* host_dst, const void* src, size_t nbytes);
void memcpy_d2d(void* dst, const void* src, size_t nbytes);
void memset(void* dst, int byte, size_t nbytes);

Stream stream();
// Waits for the stream, then raises an index error a kernel recorded (below).
void synchronize();

// Index values found out of range by kernels (kernels/cuda/index_flag.h) are recorded in
// this slot, which the device writes and the host reads, instead of a stream sync per
// launch: synchronize() and memcpy_d2h (item(), copies to the host) raise the first one
// recorded as IndexError naming the op, and clear it. flag: 0 until a kernel records.
struct IndexErrorSlot {
  unsigned long long flag, op, value, bound;
};
IndexErrorSlot* index_error_slot();  // addressable by kernels
void raise_recorded_index_error();   // after a synchronization

Event event_create();
void event_record(Event e);
float event_elapsed_ms(Event start, Event end);  // synchronizes on `end`
void event_destroy(Event e) noexcept;

// Device memory for one scope (a kernel's or a library's workspace), returned at its end.
// On cuda the caching allocator hands a freed block out again only to later work on the
// one stream, so the scope may end while kernels that use it are still running.
class Scratch {
 public:
  explicit Scratch(size_t nbytes) : p_(nbytes > 0 ? allocate(nbytes) : nullptr) {}
  ~Scratch() {
    if (p_ != nullptr) deallocate(p_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }

 private:
  void* p_;
};

// After a launch: throws ember::Error naming the kernel if it failed to launch (and, with
// ember::backends::cuda::sync_launches on, if it failed while running).
void check_launch(const char* kernel);

}  // namespace ember::EMBER_VARIANT::rt
