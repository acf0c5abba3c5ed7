#include "kernels/sim/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "tensor/error.h"

#if EMBER_HAS_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if EMBER_HAS_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace {
// TSan's side of make_context and switch_context (no-ops without TSan).
[[maybe_unused]] void tsan_make(ember::sim::detail::Context* ctx) {
#if EMBER_HAS_TSAN
  if (ctx->tsan_fiber == nullptr) ctx->tsan_fiber = __tsan_create_fiber(0);
#else
  (void)ctx;
#endif
}
[[maybe_unused]] void tsan_switch(ember::sim::detail::Context* from,
                                  ember::sim::detail::Context* to) {
#if EMBER_HAS_TSAN
  from->tsan_fiber = __tsan_get_current_fiber();  // the scheduler's: its OS thread's own
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#else
  (void)from, (void)to;
#endif
}
}  // namespace

#if defined(__x86_64__)
// ember_sim_switch(void** save_sp, void* new_sp): pushes the callee-saved registers and
// the MXCSR/x87 control words, stores the stack pointer through save_sp, loads new_sp
// and pops the same frame from it. ember_sim_fiber_start is where a fresh fiber's first
// `ret` lands: r12 holds the argument and rbx the entry function (see make_context).
__asm__(
    ".pushsection .text\n"
    ".globl ember_sim_switch\n"
    ".hidden ember_sim_switch\n"
    ".type ember_sim_switch,@function\n"
    ".p2align 4\n"
    "ember_sim_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size ember_sim_switch, .-ember_sim_switch\n"
    ".globl ember_sim_fiber_start\n"
    ".hidden ember_sim_fiber_start\n"
    ".type ember_sim_fiber_start,@function\n"
    ".p2align 4\n"
    "ember_sim_fiber_start:\n"
    "  .cfi_startproc\n"
    "  .cfi_undefined rip\n"
    "  movq %r12, %rdi\n"
    "  callq *%rbx\n"
    "  ud2\n"
    "  .cfi_endproc\n"
    ".size ember_sim_fiber_start, .-ember_sim_fiber_start\n"
    ".popsection\n");

extern "C" void ember_sim_switch(void** save_sp, void* new_sp);
extern "C" void ember_sim_fiber_start();
#endif

namespace ember::sim::detail {

FiberStack::FiberStack(size_t bytes) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_ = (bytes + page - 1) / page * page;
  map_size_ = size_ + page;
  map_ = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail<Error>("sim", "cannot map a fiber stack of ", map_size_, " bytes");
  }
  mprotect(map_, page, PROT_NONE);  // the guard page: stacks grow down into it
  usable_ = static_cast<char*>(map_) + page;
}

FiberStack::~FiberStack() {
  if (map_ != nullptr) munmap(map_, map_size_);
}

#if defined(__x86_64__)

void make_context(Context* ctx, const FiberStack& stack, void (*entry)(void*), void* arg) {
  tsan_make(ctx);
  // The frame ember_sim_switch pops: control words, r15, r14, r13, r12, rbx, rbp, and the
  // return address. After its `ret` the stack pointer must be 16-byte aligned so that
  // the `call` in ember_sim_fiber_start enters `entry` with the ABI's alignment.
  auto top = reinterpret_cast<uintptr_t>(stack.bottom()) + stack.size();
  top &= ~uintptr_t{15};
  auto* frame = reinterpret_cast<uint64_t*>(top - 80);
  std::memset(frame, 0, 80);
  frame[0] = 0x1F80u | (uint64_t{0x037F} << 32);  // default MXCSR and x87 control word
  frame[4] = reinterpret_cast<uint64_t>(arg);     // r12
  frame[5] = reinterpret_cast<uint64_t>(entry);   // rbx
  frame[7] = reinterpret_cast<uint64_t>(&ember_sim_fiber_start);
  ctx->sp = frame;
}

void switch_context(Context* from, Context* to) {
  tsan_switch(from, to);
  ember_sim_switch(&from->sp, to->sp);
}

#else

namespace {
// makecontext passes int arguments only: the two halves of the pointers.
void ucontext_entry(unsigned e_hi, unsigned e_lo, unsigned a_hi, unsigned a_lo) {
  auto entry = reinterpret_cast<void (*)(void*)>((uintptr_t{e_hi} << 32) | e_lo);
  auto* arg = reinterpret_cast<void*>((uintptr_t{a_hi} << 32) | a_lo);
  entry(arg);
}
}  // namespace

void make_context(Context* ctx, const FiberStack& stack, void (*entry)(void*), void* arg) {
  tsan_make(ctx);
  getcontext(&ctx->uc);
  ctx->uc.uc_stack.ss_sp = stack.bottom();
  ctx->uc.uc_stack.ss_size = stack.size();
  ctx->uc.uc_link = nullptr;
  auto e = reinterpret_cast<uintptr_t>(entry), a = reinterpret_cast<uintptr_t>(arg);
  makecontext(&ctx->uc, reinterpret_cast<void (*)()>(&ucontext_entry), 4,
              static_cast<unsigned>(e >> 32), static_cast<unsigned>(e),
              static_cast<unsigned>(a >> 32), static_cast<unsigned>(a));
}

void switch_context(Context* from, Context* to) {
  tsan_switch(from, to);
  swapcontext(&from->uc, &to->uc);
}

#endif

#if EMBER_HAS_ASAN
void asan_start_switch(void** fake_stack_save, const void* bottom, size_t size) {
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
}
void asan_finish_switch(void* fake_stack_save, const void** old_bottom, size_t* old_size) {
  __sanitizer_finish_switch_fiber(fake_stack_save, old_bottom, old_size);
}
void asan_unpoison(void* addr, size_t size) { ASAN_UNPOISON_MEMORY_REGION(addr, size); }
#endif

}  // namespace ember::sim::detail
