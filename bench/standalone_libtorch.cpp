// libtorch_standalone: LibTorch's side of ember_bench alone, in a process without ember.
//
//   libtorch_standalone [--threads N] [Google Benchmark flags...]
//   libtorch_standalone [--threads N] --peak-rss-child WORKLOAD:libtorch
//
// The same workloads (workloads.cpp), the same LibTorch bodies (torch_side.cpp), the same
// timing (Google Benchmark, real time, median of 3 repetitions) and benchmark names
// ("libtorch/attention_fwdbwd") as ember_bench, but ember is neither linked nor run. Its
// times are the baseline that ember_bench's in-process LibTorch times must match: a
// LibTorch slowed by ember's threads next to it would flatter every ratio
// (docs/performance.md, "Two thread runtimes in one process"). With --peak-rss-child it
// is ember_bench's peak-memory child for LibTorch alone (peak_rss.h).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "malloc_policy.h"
#include "peak_rss.h"
#include "process_counters.h"
#include "stub_side.h"
#include "wait_policy.h"
#include "workload.h"

// ember's factories, stubbed: no ember body runs here.
EMBER_BENCH_STUB_SIDE(ember_side)

namespace ember_bench {
namespace {

// As ember_bench's run_workload: setup and one warm-up call outside the timing, the
// workload's own thread count (the `_1thread` rows) while it runs.
void run_libtorch(benchmark::State& state, const Workload& w, int bench_threads) {
  const bool own_threads = w.threads != 0 && w.threads != bench_threads;
  if (own_threads) torch_side::set_num_threads(w.threads);
  Body body;
  try {
    body = w.libtorch();
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  if (body) {
    const ProcessCounters counters;
    for (auto _ : state) body();
    counters.report(state);
  }
  if (own_threads) torch_side::set_num_threads(bench_threads);
}

int run(int argc, char** argv) {
  fix_malloc_policy();  // before any workload allocates: see malloc_policy.h
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool repetitions_given = false;
  std::string peak_rss_child;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--peak-rss-child" && i + 1 < argc) {
      peak_rss_child = argv[++i];
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (arg.starts_with("--threads=")) {
      threads = std::max(1, std::atoi(argv[i] + 10));
    } else {
      if (arg.starts_with("--benchmark_repetitions")) repetitions_given = true;
      rest.push_back(argv[i]);
    }
  }
  if (!peak_rss_child.empty()) {
    if (!peak_rss_child.ends_with(":libtorch")) {
      std::cerr << "libtorch_standalone: --peak-rss-child WORKLOAD:libtorch, got " << peak_rss_child
                << "\n";
      return 2;
    }
    torch_side::set_num_threads(threads);
    return run_peak_rss_child(peak_rss_child, [](int n) { torch_side::set_num_threads(n); });
  }
  static char default_repetitions[] = "--benchmark_repetitions=3";
  static char aggregates_only[] = "--benchmark_display_aggregates_only=true";
  if (!repetitions_given) rest.insert(rest.begin() + 1, {default_repetitions, aggregates_only});
  int bench_argc = static_cast<int>(rest.size());
  rest.push_back(nullptr);
  benchmark::Initialize(&bench_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, rest.data())) return 2;

  const std::string info = torch_side::set_threads(threads);
  std::cout << "libtorch " << torch_side::version() << " alone, BLAS: " << torch_side::blas()
            << ", threads: " << threads << ", OpenMP wait policy: " << wait_policy_description()
            << "\n"
            << info << "\n";
  for (const Workload& w : workloads()) {
    benchmark::RegisterBenchmark(
        ("libtorch/" + w.name).c_str(),
        [&w, threads](benchmark::State& state) { run_libtorch(state, w, threads); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return ran == 0 ? 1 : 0;
}

}  // namespace
}  // namespace ember_bench

int main(int argc, char** argv) {
  ember_bench::use_passive_wait_policy(argv);  // see wait_policy.h
  try {
    return ember_bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "libtorch_standalone: " << e.what() << "\n";
    return 1;
  }
}
