// ember_ops --perf: each case timed on one device, against the machine's roofline.
//
// A case runs once to warm up (allocator caches, library handles), then again and again,
// each run followed by a device synchronize, until it has run --min-runs times and for
// --min-time seconds; the median run is reported. Outputs are allocated per run, as a
// user's call would. GB/s and GFLOP/s come from the case's napkin math (OpCase::bytes
// and flops: inputs read once, outputs written once), so they are lower bounds of what
// the kernels move.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "registry/machine_peaks.h"
#include "registry/ops_driver.h"

namespace ember::cases {
namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double seconds = 0;  // the median run
  int runs = 0;
};

Timing time_case(const OpCase& c, const Inputs& in, Backend& be, const DriverOptions& opt) {
  c.run(in);
  be.synchronize();
  std::vector<double> runs;
  double total = 0;
  while (static_cast<int>(runs.size()) < opt.min_runs || total < opt.min_time) {
    auto t0 = Clock::now();
    Outputs out = c.run(in);
    be.synchronize();
    double t = std::chrono::duration<double>(Clock::now() - t0).count();
    runs.push_back(t);
    total += t;
  }
  std::sort(runs.begin(), runs.end());
  return {runs[runs.size() / 2], static_cast<int>(runs.size())};
}

}  // namespace

int run_perf(const std::vector<const OpCase*>& cases, const DriverOptions& opt) {
  const Device device(std::string_view(opt.device.empty() ? "cpu" : opt.device));
  if (device.is_cuda() && !backend_available(DeviceType::cuda)) return report_missing_cuda();
  Backend& be = backend(device);
  const autograd::NoGradGuard no_grad;  // time the ops, not the graph recording

  // sim runs on the host's cores, so the host's roofline bounds it too.
  MachinePeaks peaks;
  if (device.is_host_accessible() && !opt.skip_peaks) {
    std::printf("measuring the host's peaks...\n");
    std::fflush(stdout);
    peaks = measure_host_peaks();
    std::printf(
        "peaks (host, %d threads): %.1f GFLOP/s f32 (FMA loop), %.1f GB/s "
        "(copy of %.0f MiB)\n",
        peaks.threads, peaks.flops * 1e-9, peaks.bandwidth * 1e-9, peaks.copy_bytes / (1 << 20));
  }
#if EMBER_HAVE_CUDA
  if (device.is_cuda() && !opt.skip_peaks) {
    peaks = cuda_device_peaks();
    std::printf("peaks (%s, from its attributes): %.1f GFLOP/s f32, %.1f GB/s\n",
                device.str().c_str(), peaks.flops * 1e-9, peaks.bandwidth * 1e-9);
  }
#endif
  if (peaks.flops <= 0 || peaks.bandwidth <= 0)
    std::printf("peaks (%s): %s; the roofline column is left blank\n", device.str().c_str(),
                opt.skip_peaks ? "not measured (--skip-peaks)" : "unknown");

  size_t width = 4;
  for (const OpCase* c : cases) width = std::max(width, full_name(*c).size());
  const int w = static_cast<int>(width);
  std::printf("%-*s %12s %10s %10s %9s %7s\n", w, "case", "ms", "GB/s", "GFLOP/s", "roofline",
              "runs");
  std::fflush(stdout);
  int errors = 0;
  for (const OpCase* c : cases) {
    const std::string name = full_name(*c);
    try {
      Inputs in = c->inputs(device);
      const double flops = c->flops(in), bytes = c->bytes(in);
      be.synchronize();
      Timing t = time_case(*c, in, be, opt);
      const double frac = roofline_fraction(peaks, flops, bytes, t.seconds);
      char roof[32] = "";
      if (frac >= 0) std::snprintf(roof, sizeof roof, "%.3g", frac);
      std::printf("%-*s %12.5f %10.3f %10.3f %9s %7d\n", w, name.c_str(), t.seconds * 1e3,
                  bytes / t.seconds * 1e-9, flops / t.seconds * 1e-9, roof, t.runs);
    } catch (const std::exception& e) {
      ++errors;
      std::printf("%-*s error: %s\n", w, name.c_str(), e.what());
    }
    std::fflush(stdout);
  }
  std::printf("ops --perf: %zu cases on %s, %d errors\n", cases.size(), device.str().c_str(),
              errors);
  return errors > 0 ? 1 : 0;
}

}  // namespace ember::cases
