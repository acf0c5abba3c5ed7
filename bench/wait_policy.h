// OpenMP's wait policy for every bench process: passive (idle threads sleep on a futex)
// unless OMP_WAIT_POLICY is set, for both libraries alike (they share one libgomp).
//
// Why: with libgomp's default, a thread that finishes its part of a parallel region spins
// for up to GOMP_SPINCOUNT (300000) iterations before it sleeps. In one process that
// steals the cores from the other library's next op (Debian's LibTorch hands its GEMMs to
// OpenBLAS's own pthreads) and, on a machine with other work, from everything: on the
// loaded development machine, scripts/bench_baseline.sh measured in-process / alone
// ratios of 0.9-2.1 with spinning threads and 0.93-1.05 with passive ones, and every
// row's CPU time fell 1.3-4x (docs/performance.md, "Two thread runtimes in one process").
//
// libgomp reads OMP_WAIT_POLICY once, when it is loaded, before main: the program sets it
// and executes itself again. OMP_WAIT_POLICY=active (or anything set) is kept as given.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace ember_bench {

// Call first in main; returns only in the process that runs the benchmarks.
inline void use_passive_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);
  // Not reached unless exec failed: go on with the default policy, and say so.
  std::cerr << "ember_bench: WARNING: could not restart with OMP_WAIT_POLICY=passive\n";
}

// The policy in force ("passive" unless OMP_WAIT_POLICY said otherwise), for the log.
inline std::string wait_policy_description() {
  const char* v = std::getenv("OMP_WAIT_POLICY");
  return std::string(v != nullptr ? v : "libgomp's default (spin, then sleep)");
}

}  // namespace ember_bench
