// Process-wide counters around a timed loop: CPU seconds of all threads and page faults
// per iteration. Beside the wall time they show what the time alone cannot: threads that
// spin while waiting (CPU time far above wall time x useful threads) and allocations that
// fault fresh pages every iteration. Both stay meaningful on a loaded machine, where wall
// times do not (docs/performance.md, "Two thread runtimes in one process").
#pragma once

#include <benchmark/benchmark.h>
#include <sys/resource.h>

namespace ember_bench {

class ProcessCounters {
 public:
  ProcessCounters() { getrusage(RUSAGE_SELF, &start_); }

  // Adds "cpu_ms" (all threads' user + system time) and "faults" (minor + major page
  // faults) per iteration to the benchmark's counters.
  void report(benchmark::State& state) const {
    rusage end{};
    getrusage(RUSAGE_SELF, &end);
    const auto seconds = [](const timeval& t) {
      return double(t.tv_sec) + 1e-6 * double(t.tv_usec);
    };
    const double cpu = seconds(end.ru_utime) - seconds(start_.ru_utime) + seconds(end.ru_stime) -
                       seconds(start_.ru_stime);
    const double faults =
        double(end.ru_minflt - start_.ru_minflt + end.ru_majflt - start_.ru_majflt);
    state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
    state.counters["faults"] = benchmark::Counter(faults, benchmark::Counter::kAvgIterations);
  }

 private:
  rusage start_{};
};

}  // namespace ember_bench
