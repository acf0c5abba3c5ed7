// Internals of the SIMT simulator shared by its scheduler (scheduler.cpp) and its warp
// operations (warp.cpp): the state of one simulated thread (a fiber), of one block, and
// of the OS thread that runs blocks (a Worker, one per OS thread).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "kernels/sim/fiber.h"
#include "kernels/sim/scheduler.h"
#include "tensor/error.h"

namespace ember::sim::detail {

// Names for error messages.
const char* op_name(WarpOp op);  // "__shfl_xor_sync"
std::string str3(uint3 v);       // "(1,0,0)"
std::string hex(unsigned v);     // "0xffff"

enum class State : uint8_t { runnable, at_barrier, at_warp, exited, trapped };

// One simulated thread: its context and stack, and what it waits for.
struct Fiber {
  Context ctx;
  std::unique_ptr<FiberStack> stack;
  State state = State::exited;
  uint3 tid{};
  int pred = 0;  // __syncthreads_* predicate, then the barrier's result
  WarpOp op = WarpOp::sync;
  unsigned mask = 0;
  uint64_t value = 0;  // posted to the warp, then this lane's result
  int arg = 0;
  int width = 32;
  const char* trap_message = nullptr;
  std::exception_ptr error;
  void* fake_stack = nullptr;
};

// One block of a launch.
struct Block {
  const char* kernel;
  dim3 grid, dim;
  uint3 idx;
  size_t shared_bytes;
  KernelBody body;
  Schedule schedule;
  uint64_t seed;
};

// Runs blocks on one OS thread, their threads on its pool of fibers.
struct Worker {
  Context sched;  // the scheduler side of each switch
  const void* sched_bottom = nullptr;
  size_t sched_size = 0;
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<uint32_t> order;
  std::unique_ptr<unsigned char, decltype(&std::free)> shared{nullptr, &std::free};
  size_t shared_capacity = 0;

  // A fresh context for a fiber whose thread was abandoned mid-kernel (after an error).
  void reset(Fiber& f);
  // Fiber i of this OS thread's pool, created on first use.
  Fiber& fiber(uint32_t i);
  // Runs f until it yields or exits.
  void resume(Fiber& f);
  void run_block(const Block& b);
  bool release_warps(const Block& b, uint32_t n);
  [[noreturn]] void fail_stuck(const Block& b, uint32_t n);
  [[noreturn]] void fail_in(const Block& b, const std::string& what) {
    fail<Error>("sim", "kernel '", b.kernel, "', block ", str3(b.idx), " of grid ", str3(b.grid),
                ", block size ", str3(b.dim), ": ", what);
  }
};

// This OS thread's worker (created on first use), the simulated thread running now, and
// the block it belongs to.
Worker& worker();
// Initial-exec TLS: read on every built-in and switch, and ember is a static library,
// so the general-dynamic model's __tls_get_addr call would be pure overhead.
#define EMBER_SIM_TLS thread_local __attribute__((tls_model("initial-exec")))
extern EMBER_SIM_TLS Worker* t_worker;
extern EMBER_SIM_TLS Fiber* t_fiber;
extern EMBER_SIM_TLS const Block* t_block;

// The running fiber; throws when `what` (a built-in) is used outside a kernel.
Fiber& running_fiber(const char* what);
// Suspends the running fiber until the scheduler resumes it.
void yield_to_scheduler(Fiber& f);

}  // namespace ember::sim::detail
