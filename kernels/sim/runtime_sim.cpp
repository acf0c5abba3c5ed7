// The runtime layer (kernels/cuda/runtime.h) of the sim device: "device" memory is host
// memory with guard bytes (kernels/sim/memory.h), copies are memcpy, and work is done
// when the launch returns, so streams and synchronization have nothing to wait for.
#include <chrono>
#include <cstring>

#include "kernels/cuda/index_error.h"
#include "kernels/cuda/runtime.h"
#include "kernels/sim/memory.h"
#include "kernels/sim/scheduler.h"
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

void* allocate(size_t nbytes) { return sim::device_malloc(nbytes); }
void deallocate(void* ptr) noexcept { sim::device_free(ptr); }
MemoryStats memory_stats() { return sim::memory_stats(); }
void reset_peak_memory_stats() { sim::reset_peak_memory_stats(); }
void empty_cache() {}

// Copies and synchronizations are counted as the cuda device's (profiler::transfer_counts).
void memcpy_h2d(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  profiler::record_transfer(profiler::Transfer::h2d, DeviceType::sim, nbytes);
  std::memcpy(dst, host_src, nbytes);
}
IndexErrorSlot* index_error_slot() {
  static IndexErrorSlot slot{};  // host memory is the sim device's memory
  return &slot;
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
