// The runtime layer (kernels/cuda/runtime.h) of the sim device: "device" memory is host
// memory with guard bytes (kernels/sim/memory.h), copies are memcpy, and work is done
// when the launch returns, so streams and synchronization have nothing to wait for.
//
// Several devices (issue 17): sim simulates device_count() of them, each with its own memory
// statistics and index error slot; they share the host's worker threads.
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cuda/index_error.h"
#include "kernels/cuda/runtime.h"
#include "kernels/sim/memory.h"
#include "kernels/sim/scheduler.h"
#include "tensor/error.h"
#include "tensor/profiler.h"

static_assert(EMBER_VARIANT_IS_CUDA == 0, "the sim runtime belongs to the sim build");

namespace ember::sim_impl::rt {

bool available() { return true; }

const DeviceProps& props() {
  static const DeviceProps p = [] {
    DeviceProps d;
    d.name = "ember SIMT simulator";
    d.major = 9;
    d.minor = 0;
    d.sm_count = sim::workers();
    d.max_threads_per_block = sim::kMaxThreadsPerBlock;
    d.shared_per_block = 48 * 1024;
    d.shared_per_block_optin = sim::kMaxDynamicSharedBytes;
    return d;
  }();
  return p;
}

namespace {
thread_local int t_current = 0;  // this thread's current device (cudaSetDevice's counterpart)

// EMBER_SIM_DEVICES, read once: 2 when unset, so the multi-device paths are tested.
int read_device_count() {
  const char* env = std::getenv("EMBER_SIM_DEVICES");
  if (env == nullptr || *env == '\0') return 2;
  char* end = nullptr;
  const long n = std::strtol(env, &end, 10);
  if (*end != '\0' || n < 1 || n > sim::kMaxDevices)
    fail<ValueError>("EMBER_SIM_DEVICES", "expected a device count in 1..", sim::kMaxDevices,
                     ", got '", env, "'");
  return static_cast<int>(n);
}
}  // namespace

int device_count() {
  static const int n = read_device_count();  // a bad value throws here, at every call
  return n;
}
int current_device() { return t_current; }
void set_device(int index) { t_current = index; }

void* allocate(size_t nbytes) { return sim::device_malloc(nbytes, t_current); }
void deallocate(void* ptr) noexcept { sim::device_free(ptr); }
MemoryStats memory_stats() { return sim::memory_stats(t_current); }
void reset_peak_memory_stats() { sim::reset_peak_memory_stats(t_current); }
void empty_cache() {}
MemoryStats memory_stats(int index) { return sim::memory_stats(index); }
void reset_peak_memory_stats(int index) { sim::reset_peak_memory_stats(index); }
void empty_cache(int) {}

// Device memory is host memory: a peer copy is a memcpy (memmove: a tensor copied onto a
// view of itself on another "device" cannot happen, but costs nothing to allow).
void memcpy_peer(void* dst, int, const void* src, int, size_t nbytes) {
  if (nbytes > 0) std::memmove(dst, src, nbytes);
}

// Copies and synchronizations are counted as the cuda device's (profiler::transfer_counts).
void memcpy_h2d(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  profiler::record_transfer(profiler::Transfer::h2d, DeviceType::sim, nbytes);
  std::memcpy(dst, host_src, nbytes);
}
IndexErrorSlot* index_error_slot() {
  // host memory is the sim device's memory; one slot per device, as on cuda
  static std::array<IndexErrorSlot, sim::kMaxDevices> slots{};
  return &slots[static_cast<size_t>(t_current)];
}

void raise_recorded_index_error() {
  IndexErrorSlot* s = index_error_slot();
  if (s->flag == 0) return;
  const IndexErrorSlot e = *s;
  *s = IndexErrorSlot{};
  throw_index_error(e);
}

void memcpy_d2h(void* host_dst, const void* src, size_t nbytes) {
  raise_recorded_index_error();
  if (nbytes == 0) return;
  profiler::record_transfer(profiler::Transfer::d2h, DeviceType::sim, nbytes);
  std::memcpy(host_dst, src, nbytes);
}
void memcpy_d2d(void* dst, const void* src, size_t nbytes) {
  if (nbytes > 0) std::memmove(dst, src, nbytes);
}
void memset(void* dst, int byte, size_t nbytes) {
  if (nbytes > 0) std::memset(dst, byte, nbytes);
}

Stream stream() { return nullptr; }
void synchronize() {
  profiler::record_transfer(profiler::Transfer::sync, DeviceType::sim);
  raise_recorded_index_error();
}

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

Event event_create() { return new Clock::time_point(Clock::now()); }
void event_record(Event e) { *static_cast<Clock::time_point*>(e) = Clock::now(); }
float event_elapsed_ms(Event start, Event end) {
  auto d = *static_cast<Clock::time_point*>(end) - *static_cast<Clock::time_point*>(start);
  return std::chrono::duration<float, std::milli>(d).count();
}
void event_destroy(Event e) noexcept { delete static_cast<Clock::time_point*>(e); }

void check_launch(const char*) {}  // sim launches throw their errors themselves

}  // namespace ember::sim_impl::rt
