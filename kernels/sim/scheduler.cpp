#include "kernels/sim/scheduler.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/sim/block.h"
#include "kernels/sim/fiber.h"
#include "kernels/sim/memory.h"
#include "tensor/error.h"

namespace ember::sim {

namespace {

// ---- settings -------------------------------------------------------------------------

// The simulator's own tuning; the options users set are ember::backends::sim.
std::atomic<uint64_t> g_parallel_min_threads{16384};

// A fiber's stack: backends::sim::stack_kb, or 64 KiB (256 KiB under ASan, whose
// instrumentation grows frames).
size_t stack_bytes() {
  const int kb = backends::sim::stack_kb;
  if (kb <= 0) return (EMBER_HAS_ASAN ? 256 : 64) * 1024;
  return static_cast<size_t>(std::max(16, kb)) * 1024;
}

struct AtomicCounters {
  std::atomic<uint64_t> launches{0}, blocks{0}, threads{0};
};
AtomicCounters g_counters;

}  // namespace

ScheduleGuard::ScheduleGuard(Schedule s, uint64_t seed)
    : prev_(schedule()), prev_seed_(schedule_seed()) {
  backends::sim::schedule = s;
  backends::sim::seed = seed;
}
ScheduleGuard::~ScheduleGuard() {
  backends::sim::schedule = prev_;
  backends::sim::seed = prev_seed_;
}

int workers() {
  const int w = backends::sim::workers;
  return w > 0 ? w : omp_get_max_threads();
}
uint64_t parallel_min_threads() { return g_parallel_min_threads.load(); }
void set_parallel_min_threads(uint64_t n) { g_parallel_min_threads = n; }

Counters counters() {
  return {g_counters.launches.load(), g_counters.blocks.load(), g_counters.threads.load()};
}

namespace detail {

EMBER_SIM_TLS Worker* t_worker = nullptr;
EMBER_SIM_TLS Fiber* t_fiber = nullptr;
EMBER_SIM_TLS const Block* t_block = nullptr;

namespace {
void fiber_main(void* arg);
}  // namespace

void Worker::reset(Fiber& f) {
  asan_unpoison(f.stack->bottom(), f.stack->size());
  make_context(&f.ctx, *f.stack, &fiber_main, &f);
  f.state = State::exited;
  f.fake_stack = nullptr;
}

Fiber& Worker::fiber(uint32_t i) {
  while (fibers.size() <= i) {
    auto f = std::make_unique<Fiber>();
    f->stack = std::make_unique<FiberStack>(stack_bytes());
    make_context(&f->ctx, *f->stack, &fiber_main, f.get());
    fibers.push_back(std::move(f));
  }
  return *fibers[i];
}

void Worker::resume(Fiber& f) {
  t_fiber = &f;
  void* fake = nullptr;
  asan_start_switch(&fake, f.stack->bottom(), f.stack->size());
  switch_context(&sched, &f.ctx);
  asan_finish_switch(fake, nullptr, nullptr);
  t_fiber = nullptr;
}

Worker& worker() {
  thread_local std::unique_ptr<Worker> w;
  if (!w) {
    w = std::make_unique<Worker>();
    t_worker = w.get();
  }
  return *w;
}

std::string str3(uint3 v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

namespace {

// Entry of every fiber: runs one simulated thread per resumption cycle.
void fiber_main(void* arg) {
  auto* f = static_cast<Fiber*>(arg);
  Worker* w = t_worker;
  asan_finish_switch(nullptr, &w->sched_bottom, &w->sched_size);
  for (;;) {
    try {
      t_block->body.call(t_block->body.obj);
    } catch (...) {
      f->error = std::current_exception();
    }
    f->state = State::exited;
    asan_start_switch(&f->fake_stack, w->sched_bottom, w->sched_size);
    switch_context(&f->ctx, &w->sched);
    asan_finish_switch(f->fake_stack, &w->sched_bottom, &w->sched_size);
  }
}

uint64_t mix(uint64_t x) {  // splitmix64's finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t hash_name(const char* s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s != 0; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 1099511628211ull;
  return h;
}

}  // namespace

// Suspends the running fiber until the scheduler resumes it.
void yield_to_scheduler(Fiber& f) {
  Worker* w = t_worker;
  asan_start_switch(&f.fake_stack, w->sched_bottom, w->sched_size);
  switch_context(&f.ctx, &w->sched);
  asan_finish_switch(f.fake_stack, &w->sched_bottom, &w->sched_size);
}

Fiber& running_fiber(const char* what) {
  if (t_fiber == nullptr) fail<Error>("sim", what, " called outside a kernel");
  return *t_fiber;
}

void Worker::run_block(const Block& b) {
  const uint32_t n = b.dim.x * b.dim.y * b.dim.z;
  for (uint32_t i = 0; i < n; ++i) {
    Fiber& f = fiber(i);
    f.state = State::runnable;
    f.tid = {i % b.dim.x, (i / b.dim.x) % b.dim.y, i / (b.dim.x * b.dim.y)};
    f.error = nullptr;
  }
  if (b.shared_bytes > 0) {
    if (shared_capacity < b.shared_bytes) {
      size_t cap = (b.shared_bytes + 63) / 64 * 64;
      shared.reset(static_cast<unsigned char*>(std::aligned_alloc(64, cap)));
      if (!shared) fail_in(b, "out of host memory for shared memory");
      shared_capacity = cap;
    }
    std::memset(shared.get(), 0xFF, b.shared_bytes);
  }
  std::mt19937_64 rng(
      mix(b.seed ^ mix(hash_name(b.kernel) ^
                       mix((uint64_t{b.idx.z} << 42) ^ (uint64_t{b.idx.y} << 21) ^ b.idx.x))));
  t_block = &b;
  try {
    for (;;) {
      order.clear();
      for (uint32_t i = 0; i < n; ++i)
        if (fibers[i]->state == State::runnable) order.push_back(i);
      if (b.schedule == Schedule::shuffled) std::shuffle(order.begin(), order.end(), rng);
      for (uint32_t i : order) {
        Fiber& f = *fibers[i];
        resume(f);
        if (f.error) std::rethrow_exception(f.error);
        if (f.state == State::trapped) fail_in(b, "thread " + str3(f.tid) + ": " + f.trap_message);
      }
      uint32_t at_barrier = 0, at_warp = 0, exited = 0;
      for (uint32_t i = 0; i < n; ++i) {
        const State st = fibers[i]->state;
        at_barrier += st == State::at_barrier;
        at_warp += st == State::at_warp;
        exited += st == State::exited;
      }
      if (at_warp > 0 && release_warps(b, n)) continue;
      if (exited == n) break;
      if (at_barrier != n) fail_stuck(b, n);
      int count = 0;
      for (uint32_t i = 0; i < n; ++i) count += fibers[i]->pred != 0;
      for (uint32_t i = 0; i < n; ++i) {
        fibers[i]->state = State::runnable;
        fibers[i]->pred = count;
      }
    }
  } catch (...) {
    for (uint32_t i = 0; i < n; ++i)
      if (fibers[i]->state != State::exited) reset(*fibers[i]);
    t_block = nullptr;
    throw;
  }
  t_block = nullptr;
}

void Worker::fail_stuck(const Block& b, uint32_t n) {
  uint32_t at_barrier = 0, exited = 0;
  const Fiber* first_exited = nullptr;
  const Fiber* first_warp = nullptr;
  for (uint32_t i = 0; i < n; ++i) {
    const Fiber& f = *fibers[i];
    at_barrier += f.state == State::at_barrier;
    if (f.state == State::exited) {
      ++exited;
      if (first_exited == nullptr) first_exited = &f;
    }
    if (f.state == State::at_warp && first_warp == nullptr) first_warp = &f;
  }
  std::ostringstream os;
  if (first_warp == nullptr) {
    os << "divergent barrier: __syncthreads() was reached by " << at_barrier << " of " << n
       << " threads; the other " << exited << " had exited (the first of them: thread "
       << str3(first_exited->tid) << "). Every thread of a block must reach each barrier";
  } else {
    os << "deadlock: " << at_barrier << " threads wait at __syncthreads(), " << exited
       << " have exited, and thread " << str3(first_warp->tid) << " waits at "
       << op_name(first_warp->op) << "(mask " << hex(first_warp->mask)
       << ") for lanes that never join it";
  }
  fail_in(b, os.str());
}

const uint3& thread_idx() { return running_fiber("threadIdx").tid; }
const uint3& block_idx() {
  running_fiber("blockIdx");
  return t_block->idx;
}
const dim3& block_dim() {
  running_fiber("blockDim");
  return t_block->dim;
}
const dim3& grid_dim() {
  running_fiber("gridDim");
  return t_block->grid;
}
void* dynamic_shared() {
  running_fiber("dynamic shared memory");
  return t_worker->shared.get();
}

int syncthreads(int pred, int reduce_kind) {
  Fiber& f = running_fiber("__syncthreads");
  f.pred = pred;
  f.state = State::at_barrier;
  yield_to_scheduler(f);
  const auto n = static_cast<int>(t_block->dim.x * t_block->dim.y * t_block->dim.z);
  switch (reduce_kind) {
    case 1: return f.pred;               // count
    case 2: return f.pred == n ? 1 : 0;  // and
    case 3: return f.pred > 0 ? 1 : 0;   // or
    default: return 0;
  }
}

void trap(const char* what) {
  Fiber& f = running_fiber("__trap");
  f.trap_message = what;
  f.state = State::trapped;
  yield_to_scheduler(f);
  std::abort();  // a trapped fiber is never resumed
}

void run_grid(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes, KernelBody body) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const uint64_t nblocks = uint64_t{grid.x} * grid.y * grid.z;
  auto bad = [&](const std::string& why) {
    fail<Error>("sim", "kernel '", kernel, "': invalid launch configuration (grid ", str3(grid),
                ", block ", str3(block), ", ", shared_bytes,
                " bytes of dynamic shared memory): ", why);
  };
  if (threads == 0 || nblocks == 0) bad("a dimension is zero");
  if (threads > kMaxThreadsPerBlock || block.x > 1024 || block.y > 1024 || block.z > 64)
    bad("at most 1024 threads per block (1024 x 1024 x 64)");
  if (grid.x > 0x7FFFFFFFu || grid.y > 65535 || grid.z > 65535) bad("grid dimension too large");
  if (shared_bytes > kMaxDynamicSharedBytes) bad("too much dynamic shared memory");
  if (t_fiber != nullptr) fail<Error>("sim", "kernel '", kernel, "' launched from inside a kernel");
  g_counters.launches++;
  g_counters.blocks += nblocks;
  g_counters.threads += nblocks * threads;

  const Block proto{kernel,       grid, block,      {0, 0, 0},
                    shared_bytes, body, schedule(), schedule_seed()};
  auto run = [&](uint64_t linear) {
    Block b = proto;
    b.idx = {static_cast<unsigned>(linear % grid.x),
             static_cast<unsigned>(linear / grid.x % grid.y),
             static_cast<unsigned>(linear / (uint64_t{grid.x} * grid.y))};
    worker().run_block(b);
  };
  const int nw = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(workers()), nblocks));
  if (nw <= 1 || omp_in_parallel() || nblocks * threads < parallel_min_threads()) {
    for (uint64_t i = 0; i < nblocks; ++i) run(i);
  } else {
    std::atomic<uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex mu;
#pragma omp parallel num_threads(nw)
    {
      try {
        for (uint64_t i = next++; i < nblocks && !failed; i = next++) run(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
    if (error) std::rethrow_exception(error);
  }
  check_guards(kernel);
}

}  // namespace detail
}  // namespace ember::sim
