#include "kernels/sim/scheduler.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/sim/fiber.h"
#include "kernels/sim/memory.h"
#include "tensor/error.h"

namespace ember::sim {

namespace {

// ---- settings -------------------------------------------------------------------------

struct Settings {
  std::atomic<Schedule> schedule{Schedule::sequential};
  std::atomic<uint64_t> seed{0x5EEDu};
  std::atomic<int> workers{0};  // 0: OpenMP's thread count
  size_t stack_bytes = (EMBER_SIM_ASAN ? 256 : 64) * 1024;

  Settings() {
    if (const char* s = std::getenv("EMBER_SIM_SCHEDULE")) {
      std::string v(s);
      if (v.rfind("shuffled", 0) == 0) {
        schedule = Schedule::shuffled;
        if (v.size() > 9 && v[8] == ':') seed = std::strtoull(v.c_str() + 9, nullptr, 0);
      }
    }
    if (const char* w = std::getenv("EMBER_SIM_WORKERS")) workers = std::max(1, std::atoi(w));
    if (const char* k = std::getenv("EMBER_SIM_STACK_KB"))
      stack_bytes = static_cast<size_t>(std::max(16, std::atoi(k))) * 1024;
  }
};

Settings& settings() {
  static Settings s;
  return s;
}

struct AtomicCounters {
  std::atomic<uint64_t> launches{0}, blocks{0}, threads{0};
};
AtomicCounters g_counters;

}  // namespace

Schedule schedule() { return settings().schedule.load(); }
uint64_t schedule_seed() { return settings().seed.load(); }
void set_schedule(Schedule s, uint64_t seed) {
  settings().schedule = s;
  settings().seed = seed;
}

ScheduleGuard::ScheduleGuard(Schedule s, uint64_t seed) : prev_(schedule()), prev_seed_(schedule_seed()) {
  set_schedule(s, seed);
}
ScheduleGuard::~ScheduleGuard() { set_schedule(prev_, prev_seed_); }

int workers() {
  int w = settings().workers.load();
  return w > 0 ? w : omp_get_max_threads();
}
void set_workers(int n) { settings().workers = std::max(0, n); }

Counters counters() {
  return {g_counters.launches.load(), g_counters.blocks.load(), g_counters.threads.load()};
}

namespace detail {

namespace {

enum class State : uint8_t { runnable, at_barrier, at_warp, exited, trapped };

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

struct Worker;
thread_local Worker* t_worker = nullptr;
thread_local Fiber* t_fiber = nullptr;     // the simulated thread running now
thread_local const Block* t_block = nullptr;

void fiber_main(void* arg);

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::sync: return "__syncwarp";
  }
  return "?";
}

std::string str3(uint3 v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

struct Worker {
  Context sched;
  const void* sched_bottom = nullptr;
  size_t sched_size = 0;
  std::vector<std::unique_ptr<Fiber>> fibers;
  std::vector<uint32_t> order;
  std::unique_ptr<unsigned char, decltype(&std::free)> shared{nullptr, &std::free};
  size_t shared_capacity = 0;

  void reset(Fiber& f) {
    asan_unpoison(f.stack->bottom(), f.stack->size());
    make_context(&f.ctx, *f.stack, &fiber_main, &f);
    f.state = State::exited;
    f.fake_stack = nullptr;
  }

  Fiber& fiber(uint32_t i) {
    while (fibers.size() <= i) {
      auto f = std::make_unique<Fiber>();
      f->stack = std::make_unique<FiberStack>(settings().stack_bytes);
      make_context(&f->ctx, *f->stack, &fiber_main, f.get());
      fibers.push_back(std::move(f));
    }
    return *fibers[i];
  }

  void resume(Fiber& f) {
    t_fiber = &f;
    void* fake = nullptr;
    asan_start_switch(&fake, f.stack->bottom(), f.stack->size());
    switch_context(&sched, &f.ctx);
    asan_finish_switch(fake, nullptr, nullptr);
    t_fiber = nullptr;
  }

  void run_block(const Block& b);
  bool release_warps(const Block& b, uint32_t n);
  [[noreturn]] void fail_stuck(const Block& b, uint32_t n);
  [[noreturn]] void fail_in(const Block& b, const std::string& what) {
    fail<Error>("sim", "kernel '", b.kernel, "', block ", str3(b.idx), " of grid ", str3(b.grid),
                ", block size ", str3(b.dim), ": ", what);
  }
};

Worker& worker() {
  thread_local std::unique_ptr<Worker> w;
  if (!w) {
    w = std::make_unique<Worker>();
    t_worker = w.get();
  }
  return *w;
}

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
  std::mt19937_64 rng(mix(b.seed ^ mix(hash_name(b.kernel) ^ mix((uint64_t{b.idx.z} << 42) ^
                                                                  (uint64_t{b.idx.y} << 21) ^ b.idx.x))));
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
      if (release_warps(b, n)) continue;
      uint32_t at_barrier = 0, exited = 0;
      for (uint32_t i = 0; i < n; ++i) {
        at_barrier += fibers[i]->state == State::at_barrier;
        exited += fibers[i]->state == State::exited;
      }
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

// Releases every group of lanes waiting at a warp operation whose live members have all
// posted it; computes each lane's result. Returns whether any group was released.
bool Worker::release_warps(const Block& b, uint32_t n) {
  bool released = false;
  for (uint32_t base = 0; base < n; base += 32) {
    const uint32_t lanes = std::min<uint32_t>(32, n - base);
    const uint32_t exists = lanes == 32 ? ~0u : (1u << lanes) - 1u;
    uint32_t waiting = 0, live = 0;
    for (uint32_t l = 0; l < lanes; ++l) {
      State s = fibers[base + l]->state;
      if (s == State::at_warp) waiting |= 1u << l;
      if (s != State::exited) live |= 1u << l;
    }
    uint32_t pending = waiting;
    while (pending != 0) {
      const auto lane = static_cast<uint32_t>(std::countr_zero(pending));
      const Fiber& lead = *fibers[base + lane];
      if ((lead.mask & (1u << lane)) == 0)
        fail_in(b, "thread " + str3(lead.tid) + " calls " + op_name(lead.op) + " with mask " +
                       hex(lead.mask) + ", which leaves out its own lane " + std::to_string(lane));
      const uint32_t group = lead.mask & exists & live;
      if ((group & waiting) != group) {  // a member is elsewhere: maybe later
        pending &= ~(1u << lane);
        continue;
      }
      uint64_t ballot = 0;
      for (uint32_t g = group; g != 0; g &= g - 1) {
        const Fiber& m = *fibers[base + std::countr_zero(g)];
        if (m.op != lead.op || (m.mask & exists) != (lead.mask & exists))
          fail_in(b, "threads " + str3(lead.tid) + " and " + str3(m.tid) + " of one warp meet at " +
                         op_name(lead.op) + "(mask " + hex(lead.mask) + ") and " + op_name(m.op) +
                         "(mask " + hex(m.mask) + ")");
        if (m.value != 0) ballot |= uint64_t{1} << std::countr_zero(g);
      }
      uint64_t values[32];
      for (uint32_t g = group; g != 0; g &= g - 1) values[std::countr_zero(g)] = fibers[base + std::countr_zero(g)]->value;
      for (uint32_t g = group; g != 0; g &= g - 1) {
        const auto l = static_cast<uint32_t>(std::countr_zero(g));
        Fiber& m = *fibers[base + l];
        const auto w = static_cast<uint32_t>(m.width);
        const auto a = static_cast<uint32_t>(m.arg);
        uint32_t src = l;
        switch (m.op) {
          case WarpOp::shfl_idx: src = (l & ~(w - 1)) | (a & (w - 1)); break;
          case WarpOp::shfl_up: src = (l & (w - 1)) >= a ? l - a : l; break;
          case WarpOp::shfl_down: src = (l & (w - 1)) + a < w ? l + a : l; break;
          case WarpOp::shfl_xor: src = (l ^ a) < 32 && (l ^ a) / w <= l / w ? (l ^ a) : l; break;
          default: break;
        }
        switch (m.op) {
          case WarpOp::ballot: m.value = ballot; break;
          case WarpOp::any: m.value = ballot != 0; break;
          case WarpOp::all: m.value = ballot == group; break;
          case WarpOp::sync: m.value = 0; break;
          default: m.value = (group >> src) & 1u ? values[src] : ~uint64_t{0}; break;
        }
        m.state = State::runnable;
      }
      pending &= ~group;
      released = true;
    }
  }
  return released;
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
       << " have exited, and thread " << str3(first_warp->tid) << " waits at " << op_name(first_warp->op)
       << "(mask " << hex(first_warp->mask) << ") for lanes that never join it";
  }
  fail_in(b, os.str());
}

}  // namespace

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

uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int arg, int width) {
  Fiber& f = running_fiber(op_name(op));
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) trap("shuffle width must be a power of two in [1, 32]");
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.arg = arg;
  f.width = width;
  f.state = State::at_warp;
  yield_to_scheduler(f);
  return f.value;
}

unsigned active_mask() {
  Fiber& self = running_fiber("__activemask");
  const uint32_t linear = self.tid.x + t_block->dim.x * (self.tid.y + t_block->dim.y * self.tid.z);
  const uint32_t n = t_block->dim.x * t_block->dim.y * t_block->dim.z;
  const uint32_t base = linear / 32 * 32;
  unsigned mask = 0;
  for (uint32_t l = 0; l < 32 && base + l < n; ++l)
    if (t_worker->fibers[base + l]->state != State::exited) mask |= 1u << l;
  return mask;
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
                ", block ", str3(block), ", ", shared_bytes, " bytes of dynamic shared memory): ", why);
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

  const Block proto{kernel, grid, block, {0, 0, 0}, shared_bytes, body, schedule(), schedule_seed()};
  auto run = [&](uint64_t linear) {
    Block b = proto;
    b.idx = {static_cast<unsigned>(linear % grid.x), static_cast<unsigned>(linear / grid.x % grid.y),
             static_cast<unsigned>(linear / (uint64_t{grid.x} * grid.y))};
    worker().run_block(b);
  };
  const int nw = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(workers()), nblocks));
  if (nw <= 1 || omp_in_parallel()) {
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
