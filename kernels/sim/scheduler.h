// The SIMT simulator's scheduler: runs a kernel launch on the CPU.
//
// Each block runs on one OS thread, its threads as fibers (kernels/sim/fiber.h). The
// scheduler resumes every runnable fiber until it yields at a barrier or a warp
// operation, or exits. When none is runnable it releases each group of warp lanes whose
// live members all wait at the same warp operation (computing every lane's result from
// the values they posted), else the whole block when all its live threads wait at
// __syncthreads(), else it throws an ember::Error naming the kernel: a barrier some
// threads never reach (they exited, or wait elsewhere) is a bug on a GPU too, where it
// hangs or corrupts. Blocks of one launch run on several OS threads (OpenMP).
//
// The shuffled schedule resumes the runnable fibers in a random order between barriers,
// so a kernel that reads shared memory another thread writes without a barrier between
// them computes a wrong answer instead of passing by luck of the sequential order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/sim/vector_types.h"
#include "tensor/backends.h"

namespace ember::sim {

// The schedule of later launches (process-wide): ember::backends::sim::schedule and
// ::seed (tensor/backends.h), read here at each launch.
using Schedule = backends::SimSchedule;
inline Schedule schedule() { return backends::sim::schedule; }
inline uint64_t schedule_seed() { return backends::sim::seed; }

// Sets the schedule for a scope and restores the previous one.
class ScheduleGuard {
 public:
  explicit ScheduleGuard(Schedule s, uint64_t seed = 0x5EEDu);
  ~ScheduleGuard();
  ScheduleGuard(const ScheduleGuard&) = delete;
  ScheduleGuard& operator=(const ScheduleGuard&) = delete;

 private:
  Schedule prev_;
  uint64_t prev_seed_;
};

// OS threads that run blocks of one launch: ember::backends::sim::workers, or OpenMP's
// thread count where that is 0.
int workers();
// A launch of fewer simulated threads than this (default 16384, about a millisecond of
// work) runs its blocks on the calling thread: waking other threads costs more than it
// saves, and far more when the cores are oversubscribed (ctest -j with OpenMP in each).
uint64_t parallel_min_threads();
void set_parallel_min_threads(uint64_t n);

// What a launch may use, as cudaDeviceProp reports it for a GPU.
inline constexpr int kMaxThreadsPerBlock = 1024;
inline constexpr size_t kMaxDynamicSharedBytes = 227 * 1024;  // Hopper's opt-in limit

// Counters since process start, for tests and diagnostics.
struct Counters {
  uint64_t launches = 0;
  uint64_t blocks = 0;
  uint64_t threads = 0;
};
Counters counters();

namespace detail {

// A type-erased call of the kernel with its (copied) arguments.
struct KernelBody {
  const void* obj;
  void (*call)(const void*);
};

// Runs the grid; throws ember::Error naming `kernel` on a bad configuration, a deadlock
// or divergent barrier, a __trap(), or a write past an allocation's end (sim memory
// guards, checked after the launch).
void run_grid(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes, KernelBody body);

// The executing simulated thread's built-in variables.
const uint3& thread_idx();
const uint3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
// The launch's dynamic shared memory (16-byte aligned, filled with 0xFF at block start).
void* dynamic_shared();

// Block barrier; `pred` and the result serve __syncthreads_count/and/or.
int syncthreads(int pred, int reduce_kind);

enum class WarpOp : uint8_t { shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, sync };
// Posts `value` for the lanes in `mask`, waits until every live lane of the mask has
// posted the same operation, and returns this lane's result. A shuffle from a lane that
// does not take part returns all one bits (NaN for floats): undefined on a GPU.
uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int arg, int width);
unsigned active_mask();
// Ends the launch with an error naming the kernel, the block, the thread and `what`.
[[noreturn]] void trap(const char* what);

}  // namespace detail

// Launches kernel<<<grid, block, shared_bytes>>>(args...) on the simulator. Each thread
// calls the kernel with its own copy of the arguments, converted to the parameter types
// once, as CUDA does.
template <typename... Params, typename... Args>
void launch(const char* kernel_name, dim3 grid, dim3 block, size_t shared_bytes,
            void (*kernel)(Params...), Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "wrong number of kernel arguments");
  using Tuple = std::tuple<std::decay_t<Params>...>;
  struct Bound {
    void (*fn)(Params...);
    Tuple params;
  };
  const Bound bound{kernel, Tuple(std::forward<Args>(args)...)};
  detail::KernelBody body{&bound, [](const void* obj) {
                            const auto* b = static_cast<const Bound*>(obj);
                            std::apply(b->fn, b->params);
                          }};
  detail::run_grid(kernel_name, grid, block, shared_bytes, body);
}

}  // namespace ember::sim
