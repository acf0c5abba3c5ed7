// Fibers for the SIMT simulator: one per simulated GPU thread, on a small pooled stack.
//
// A fiber is switched to and from explicitly (no preemption), so the scheduler decides
// exactly when each simulated thread runs. On x86-64 the switch is a dozen instructions
// (callee-saved registers, the SSE and x87 control words, the stack pointer): about
// 11 ns, against ~160 ns for swapcontext(), which also calls sigprocmask. Elsewhere the
// switch falls back to ucontext. Every switch is annotated for AddressSanitizer, which
// otherwise loses track of which stack is live, and for ThreadSanitizer (the TSan build of
// .ci/run), which otherwise mixes the fibers' stacks and histories up.
#pragma once

#include <cstddef>

#include "tensor/sanitizer.h"

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace ember::sim::detail {

// A stack from mmap with an inaccessible guard page below it, so an overflow faults.
class FiberStack {
 public:
  explicit FiberStack(size_t bytes);
  ~FiberStack();
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  void* bottom() const { return usable_; }  // lowest usable address
  size_t size() const { return size_; }

 private:
  void* map_ = nullptr;
  size_t map_size_ = 0;
  void* usable_ = nullptr;
  size_t size_ = 0;
};

// The saved state of a suspended execution context.
struct Context {
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t uc;
#endif
#if EMBER_HAS_TSAN
  void* tsan_fiber = nullptr;  // TSan's fiber for this context, made once, kept with the pool
#endif
};

// Makes `ctx` start entry(arg) on `stack` when first switched to. entry never returns.
void make_context(Context* ctx, const FiberStack& stack, void (*entry)(void*), void* arg);
// Saves the current context into `from` and resumes `to`. Under TSan the switch is
// announced as synchronizing: the simulated threads of a block run one at a time on one
// OS thread, so they never race with each other in the host's sense.
void switch_context(Context* from, Context* to);

// AddressSanitizer bookkeeping around switch_context (no-ops without ASan). The side
// that switches calls start_switch(..., target stack) just before, and the side that
// resumes calls finish_switch just after, as the sanitizer's fiber API prescribes.
#if EMBER_HAS_ASAN
void asan_start_switch(void** fake_stack_save, const void* bottom, size_t size);
void asan_finish_switch(void* fake_stack_save, const void** old_bottom, size_t* old_size);
// Forgets the shadow state of frames abandoned on a stack that will be reused.
void asan_unpoison(void* addr, size_t size);
#else
inline void asan_start_switch(void**, const void*, size_t) {}
inline void asan_finish_switch(void*, const void**, size_t*) {}
inline void asan_unpoison(void*, size_t) {}
#endif

}  // namespace ember::sim::detail
