#include "kernels/cpu/denormals.h"

#include <omp.h>

#include <cstdint>

namespace ember::cpu {

namespace {
struct TeamState {
  uint64_t generation = 0;  // the mode's generation this thread's team was set to
  int threads = 0;          // the team size it was set for
};
thread_local TeamState t_team;
}  // namespace

void sync_denormal_workers() {
  const uint64_t generation = detail::flush_denormal_generation();
  const int threads = omp_get_max_threads();
  if (t_team.generation == generation && t_team.threads == threads) return;
  // Inside a parallel region a nested one would not reach the team's threads: the outer
  // region's master sets them when it runs a kernel itself.
  if (omp_in_parallel()) return;
  t_team = {generation, threads};
  // On a thread's first kernel too: its team may exist already, started by the program's
  // own OpenMP loop or by a fill or copy (which leave the bits alone), and a new thread
  // takes the bits of the thread that creates it. A thread without a team gets one here.
#if EMBER_HAS_MXCSR
  const unsigned bits = is_flush_denormal_enabled() ? FlushDenormals::kBits : 0u;
  const unsigned own = _mm_getcsr();  // the caller's bits stay the caller's
#pragma omp parallel num_threads(threads)
  _mm_setcsr((_mm_getcsr() & ~FlushDenormals::kBits) | bits);
  _mm_setcsr(own);
#endif
}

}  // namespace ember::cpu
