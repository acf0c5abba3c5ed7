// The default generator: a Philox key (the seed) and a per-call counter offset.
#pragma once

#include <cstdint>

namespace ember {

struct PhiloxState {
  uint64_t seed = 0;
  uint64_t offset = 0;  // distinct for every random op since the last manual_seed
};

// Hands out the state for one random op and advances the default generator.
PhiloxState next_philox_state();
// The generator's current state, and a way to restore it (checkpoints resume exactly).
PhiloxState get_rng_state();
void set_rng_state(PhiloxState state);

}  // namespace ember
