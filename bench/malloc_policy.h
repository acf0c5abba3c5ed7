// One fixed glibc malloc policy for every process of the bench (ember_bench, its peak-memory
// children, libtorch_standalone), set before any workload allocates.
//
// Why: glibc adapts its mmap and trim thresholds to the sizes freed so far (a freed mmap'd
// block raises the mmap threshold to its size and the trim threshold to twice that). In
// one process the two libraries then change each other's allocator: after ember's rows,
// LibTorch's attention_fwdbwd took 3.5x the page faults per iteration it takes alone (its
// 8 MiB score tensors trimmed off the heap and faulted back in every iteration), and its
// time rose with them. Fixed thresholds make each library's allocations independent of what
// ran before it: large blocks up to 32 MiB (glibc's maximum) come from the heap and freed
// memory is kept, so a steady-state iteration of either library faults no pages. This
// helps LibTorch more than ember (ember caches its large blocks itself): the baseline is
// not slowed by it. docs/performance.md, "Two thread runtimes in one process".
#pragma once

#include <malloc.h>

#include <cstdlib>
#include <string_view>

namespace ember_bench {

// EMBER_BENCH_MALLOC=default in the environment keeps glibc's adaptive policy: to see the
// effect (scripts/bench_baseline.sh prints the page faults per iteration).
inline void fix_malloc_policy() {
  if (const char* v = std::getenv("EMBER_BENCH_MALLOC"); v && std::string_view(v) == "default")
    return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // also switches off the dynamic adjustment
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace ember_bench
