// The flush-denormal switch (tensor/denormals.h); the cpu kernels apply it
// (kernels/cpu/denormals.h).
#include "tensor/denormals.h"

#include <atomic>

namespace ember {

namespace {
std::atomic<bool> g_flush{true};
std::atomic<uint64_t> g_generation{1};

constexpr bool kCanFlush =
#if defined(__SSE__) || defined(__x86_64__)
    true;
#else
    false;
#endif
}  // namespace

bool set_flush_denormal(bool mode) {
  g_flush.store(mode, std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_release);
  return kCanFlush;
}

bool is_flush_denormal_enabled() { return g_flush.load(std::memory_order_relaxed); }

namespace detail {
uint64_t flush_denormal_generation() { return g_generation.load(std::memory_order_acquire); }
}  // namespace detail

}  // namespace ember
