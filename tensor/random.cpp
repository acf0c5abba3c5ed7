#include "tensor/random.h"

#include <mutex>

#include "tensor/ops.h"

namespace ember {

namespace {
std::mutex g_mutex;
PhiloxState g_state{.seed = 67280421310721ULL, .offset = 0};
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard lock(g_mutex);
  g_state = {.seed = seed, .offset = 0};
}

PhiloxState next_philox_state() {
  std::lock_guard lock(g_mutex);
  PhiloxState s = g_state;
  ++g_state.offset;
  return s;
}

PhiloxState get_rng_state() {
  std::lock_guard lock(g_mutex);
  return g_state;
}

void set_rng_state(PhiloxState state) {
  std::lock_guard lock(g_mutex);
  g_state = state;
}

}  // namespace ember
