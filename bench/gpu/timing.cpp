// Warm-ups, the host timer of cpu and sim, and the median (timing.h).
#include "timing.h"

#include <algorithm>
#include <chrono>

namespace ember::gpubench {

namespace {

void synchronize(Device device) { backend(device).synchronize(); }

}  // namespace

std::vector<double> time_runs(Device device, int warmup, int runs,
                              const std::function<void()>& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  synchronize(device);
  if (device.is_cuda()) return time_runs_cuda_events(runs, fn);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    synchronize(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  return ms;
}

double median(std::vector<double> ms) {
  if (ms.empty()) return 0.0;
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  return n % 2 == 1 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

}  // namespace ember::gpubench
