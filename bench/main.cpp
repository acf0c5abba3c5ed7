// ember_bench: times every workload in ember and in LibTorch, prints Google Benchmark's
// report and a comparison table, and with --json FILE writes the comparison as JSON.
//
//   ember_bench [--json FILE] [--threads N] [--no-peak-rss] [Google Benchmark flags...]
//
// Both libraries run with the same number of threads: N, by default the hardware
// threads. ember's CPU kernels use OpenMP (omp_set_num_threads); LibTorch gets
// at::set_num_threads and OpenBLAS's own setting (see torch_side.cpp).
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "malloc_policy.h"
#include "peak_rss.h"
#include "process_counters.h"
#include "report.h"
#include "wait_policy.h"
#include "workload.h"

namespace ember_bench {
namespace {

struct Options {
  std::string json_path;       // empty: no JSON
  std::string peak_rss_child;  // "WORKLOAD:LIBRARY": only measure that, in this process
  int threads = 0;
  bool peak_rss = true;  // --no-peak-rss: skip the fresh-process memory measurement
  bool color = false;
  std::vector<char*> benchmark_argv;  // argv[0] and the flags for Google Benchmark, null-terminated
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "ember_bench: " << message
            << "\nusage: ember_bench [--json FILE] [--threads N] [--no-peak-rss] "
               "[--benchmark_* flags]\n";
  std::exit(2);
}

// Google Benchmark's --benchmark_color={true|false|auto} (default auto) picks the colours
// of its default reporter only; ours is constructed here, so decide the same way.
bool want_color(std::string_view flag) {
  if (flag == "--benchmark_color") return true;
  const std::string_view v = flag.substr(std::min(flag.size(), sizeof("--benchmark_color=") - 1));
  if (v == "true" || v == "yes" || v == "1") return true;
  if (!v.empty() && v != "auto") return false;
  const char* term = std::getenv("TERM");
  return isatty(STDOUT_FILENO) && term != nullptr && std::string_view(term) != "dumb";
}

// "--flag=value" or "--flag value": the value (advancing i past it), or nullopt when
// argv[i] is another argument.
std::optional<std::string> take_flag(std::string_view flag, int argc, char** argv, int& i) {
  const std::string_view arg = argv[i];
  if (arg == flag) {
    if (i + 1 >= argc) usage_error(std::string(flag) + " needs a value");
    return argv[++i];
  }
  if (arg.starts_with(flag) && arg.size() > flag.size() && arg[flag.size()] == '=') {
    return std::string(arg.substr(flag.size() + 1));
  }
  return std::nullopt;
}

// Takes our own flags out of argv; the rest is left for Google Benchmark.
Options parse_own_flags(int argc, char** argv) {
  Options o;
  std::string_view color_flag;
  bool repetitions_given = false;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (auto path = take_flag("--json", argc, argv, i)) {
      o.json_path = *path;
    } else if (auto child = take_flag("--peak-rss-child", argc, argv, i)) {
      o.peak_rss_child = *child;
    } else if (std::string_view(argv[i]) == "--no-peak-rss") {
      o.peak_rss = false;
    } else if (auto v = take_flag("--threads", argc, argv, i)) {
      char* end = nullptr;
      const long n = std::strtol(v->c_str(), &end, 10);
      if (end == v->c_str() || *end != '\0' || n < 1 || n > 4096)
        usage_error("bad --threads " + *v);
      o.threads = static_cast<int>(n);
    } else {
      const std::string_view arg = argv[i];
      if (arg.starts_with("--benchmark_color")) color_flag = arg;
      if (arg.starts_with("--benchmark_repetitions")) repetitions_given = true;
      rest.push_back(argv[i]);
    }
  }
  // One noisy interval (another process waking up) should not make a result: by default
  // each benchmark runs 3 times and the report takes the median.
  static char default_repetitions[] = "--benchmark_repetitions=3";
  static char aggregates_only[] = "--benchmark_display_aggregates_only=true";
  if (!repetitions_given) rest.insert(rest.begin() + 1, {default_repetitions, aggregates_only});
  rest.push_back(nullptr);
  o.benchmark_argv = std::move(rest);
  o.color = want_color(color_flag);
  return o;
}

// Both libraries on a workload's own thread count (the `_1thread` rows) while it runs,
// and back on the bench's count after.
class ThreadScope {
 public:
  ThreadScope(int workload_threads, int bench_threads)
      : changed_(workload_threads != 0 && workload_threads != bench_threads),
        restore_(bench_threads) {
    if (changed_) set(workload_threads);
  }
  ~ThreadScope() {
    if (changed_) set(restore_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  static void set(int n) {
    omp_set_num_threads(n);  // ember's CPU backend
    torch_side::set_num_threads(n);
  }
  bool changed_;
  int restore_;
};

void run_workload(benchmark::State& state, const Workload& w, const Setup& setup,
                  int bench_threads) {
  const ThreadScope threads(w.threads, bench_threads);
  Body body;
  try {
    body = setup();
    body();  // warm-up, and where a library throws, it throws here rather than mid-loop
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const ProcessCounters counters;
  for (auto _ : state) body();
  counters.report(state);
  // Rates per second of wall time, scaled so the column reads in GB/s and TFLOP/s.
  state.counters["GB/s"] =
      benchmark::Counter(w.bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["TFLOP/s"] =
      benchmark::Counter(w.flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

void register_benchmarks(int threads) {
  for (const Workload& w : workloads()) {
    for (const auto& [library, setup] :
         {std::pair{"ember", &w.ember}, std::pair{"libtorch", &w.libtorch}}) {
      const std::string name = std::string(library) + "/" + w.name;
      benchmark::RegisterBenchmark(name.c_str(),
                                   [&w, setup = setup, threads](benchmark::State& state) {
                                     run_workload(state, w, *setup, threads);
                                   })
          ->UseRealTime()  // the ops are multi-threaded: CPU time of one thread means nothing
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

int run(int argc, char** argv) {
  fix_malloc_policy();  // before any workload allocates: see malloc_policy.h
  Options opts = parse_own_flags(argc, argv);
  int bench_argc = static_cast<int>(opts.benchmark_argv.size()) - 1;
  benchmark::Initialize(&bench_argc, opts.benchmark_argv.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, opts.benchmark_argv.data())) return 2;

  const int threads = opts.threads > 0
                          ? opts.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);  // ember's CPU backend
  const std::string torch_info = torch_side::set_threads(threads);
  if (!opts.peak_rss_child.empty()) {
    return run_peak_rss_child(opts.peak_rss_child, [](int n) {
      omp_set_num_threads(n);
      torch_side::set_num_threads(n);
    });
  }
  std::cout << "machine: " << machine_description() << "\nlibtorch: " << torch_side::version()
            << ", BLAS: " << torch_side::blas() << "\n"
            << torch_side::config() << "OpenMP wait policy: " << wait_policy_description()
            << "\nthreads: " << threads << " (ember: OpenMP; libtorch:)\n"
            << torch_info << "\n";
  if (auto load = load_average(); load && *load > 0.5 * threads) {
    std::cout << "WARNING: load average " << *load << " with " << threads
              << " threads: other processes compete for the cores, timings will be noisy\n\n";
  }

  // The roofline, before any workload: both libraries' threads are still idle then.
  Rooflines roofs{threads, measure_roofline(threads), {}};
  roofs.one = threads == 1 ? roofs.all : measure_roofline(1);
  print_rooflines(std::cout, roofs);
  register_benchmarks(threads);
  CollectingReporter reporter(opts.color);
  const size_t ran = benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (ran == 0) {
    std::cerr << "ember_bench: no benchmark matched the filter\n";
    return 1;
  }

  const std::vector<Row> rows = collect_rows(reporter);
  print_table(std::cout, rows, roofs);
  // Peak memory of the end-to-end training step, each library in a fresh process.
  std::vector<PeakRss> peaks;
  for (const Row& r : rows) {
    if (!opts.peak_rss || r.workload->name != "seed_train_step" || !r.ember_s || !r.libtorch_s)
      continue;
    // In this program (both libraries loaded in each child), and each library in a
    // program of its own (ember_standalone, libtorch_standalone beside this one).
    const auto self = program_path(), ember_alone = program_path("ember_standalone"),
               torch_alone = program_path("libtorch_standalone");
    std::optional<ChildRss> e, t, ea, ta;
    if (self) e = child_peak_rss(*self, r.workload->name, "ember", threads);
    if (self) t = child_peak_rss(*self, r.workload->name, "libtorch", threads);
    if (ember_alone) ea = child_peak_rss(*ember_alone, r.workload->name, "ember", threads);
    if (torch_alone) ta = child_peak_rss(*torch_alone, r.workload->name, "libtorch", threads);
    if (!e || !t || !ea || !ta) {
      std::cerr << "ember_bench: FAILED to measure the peak memory of " << r.workload->name
                << " (ember_standalone and libtorch_standalone are built beside ember_bench)\n";
      return 1;
    }
    const PeakRss p{r.workload->name, kPeakRssIterations, e->peak_mb,  t->peak_mb,
                    e->base_mb,       t->base_mb,         ea->peak_mb, ta->peak_mb};
    peaks.push_back(p);
    std::cout << r.workload->name << " peak RSS over " << kPeakRssIterations
              << " steps (fresh process): ember " << p.ember_mb << " MiB, libtorch "
              << p.libtorch_mb << " MiB (ratio " << p.ember_mb / p.libtorch_mb
              << "); above the process before the workload (ember " << p.ember_base_mb
              << " MiB, libtorch " << p.libtorch_base_mb << " MiB: both libraries loaded): ember "
              << p.ember_mb - p.ember_base_mb << " MiB, libtorch "
              << p.libtorch_mb - p.libtorch_base_mb << " MiB (ratio "
              << (p.ember_mb - p.ember_base_mb) / (p.libtorch_mb - p.libtorch_base_mb)
              << "); each library in a program of its own: ember " << p.ember_alone_mb
              << " MiB, libtorch " << p.libtorch_alone_mb << " MiB (ratio "
              << p.ember_alone_mb / p.libtorch_alone_mb << ")\n";
  }
  if (!opts.json_path.empty()) {
    write_json(opts.json_path, rows, roofs, peaks);
    std::cout << "wrote " << opts.json_path << "\n";
  }
  for (const std::string& e : reporter.errors()) std::cerr << "ember_bench: FAILED " << e << "\n";
  return reporter.errors().empty() ? 0 : 1;
}

}  // namespace
}  // namespace ember_bench

int main(int argc, char** argv) {
  ember_bench::use_passive_wait_policy(argv);  // see wait_policy.h
  try {
    return ember_bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ember_bench: " << e.what() << "\n";
    return 1;
  }
}
