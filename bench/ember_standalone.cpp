// ember_standalone: ember's side of ember_bench alone, in a process without LibTorch.
//
//   ember_standalone [--threads N] --peak-rss-child WORKLOAD:ember
//
// ember_bench's peak-memory child for ember alone (peak_rss.h): the workload's setup and
// iterations with only ember loaded, as a program that uses ember holds them. Its twin,
// libtorch_standalone --peak-rss-child WORKLOAD:libtorch, measures LibTorch alone; ember_bench
// reports both beside its own children, which have both libraries loaded
// (docs/performance.md, "Peak memory, each library alone").
#include <omp.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "malloc_policy.h"
#include "peak_rss.h"
#include "stub_side.h"
#include "workload.h"

// LibTorch's factories, stubbed: no LibTorch body runs here.
EMBER_BENCH_STUB_SIDE(torch_side)

namespace ember_bench {
namespace {

int run(int argc, char** argv) {
  fix_malloc_policy();  // as ember_bench's children: see malloc_policy.h
  int threads = 0;
  std::string spec;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (arg == "--peak-rss-child" && i + 1 < argc) {
      spec = argv[++i];
    } else {
      spec.clear();
      break;
    }
  }
  if (!spec.ends_with(":ember")) {
    std::cerr << "usage: ember_standalone [--threads N] --peak-rss-child WORKLOAD:ember\n";
    return 2;
  }
  if (threads > 0) omp_set_num_threads(threads);
  return run_peak_rss_child(spec, [](int n) { omp_set_num_threads(n); });
}

}  // namespace
}  // namespace ember_bench

int main(int argc, char** argv) {
  try {
    return ember_bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ember_standalone: " << e.what() << "\n";
    return 1;
  }
}
