// Compiled with -march=native (EMBER_NATIVE): the FMA loop vectorizes to the widest FMA
// the build machine has, as the cpu kernels do.
#include "registry/machine_peaks.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

namespace ember::cases {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Independent accumulators: enough vector registers' worth that every FMA unit has a
// chain to work on while the others wait out the FMA latency (8 AVX-512 vectors, or
// 16 AVX2 ones), few enough to stay in registers.
constexpr int kLanes = 128;

// `iters` FMAs on each of kLanes accumulators; returns their sum so the work is live.
float fma_chains(int64_t iters, float m, float a) {
  alignas(64) float acc[kLanes];
  for (int j = 0; j < kLanes; ++j) acc[j] = static_cast<float>(j) * 1e-3f;
  // No aligned(acc : 64) clause: the compiler knows acc's alignment, and clang 14 with
  // -fsanitize=alignment (the sanitizer builds) crashes on the clause for an array.
  for (int64_t i = 0; i < iters; ++i)
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) acc[j] = std::fma(acc[j], m, a);
  float s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

double measure_flops(int threads) {
  // m < 1 and a small: the accumulators converge to a / (1 - m), never overflow and
  // never go subnormal. volatile: the compiler cannot fold the loop away.
  volatile float m_in = 0.999999f, a_in = 1e-6f;
  const float m = m_in, a = a_in;
  double best = 0;
  for (int64_t iters = 1 << 16;; iters *= 2) {
    std::unique_ptr<float[]> sums(new float[static_cast<size_t>(threads)]);
    auto t0 = Clock::now();
#pragma omp parallel num_threads(threads)
    sums[static_cast<size_t>(omp_get_thread_num())] = fma_chains(iters, m, a);
    double t = seconds_since(t0);
    volatile float keep = sums[0];
    (void)keep;
    best = std::max(best, 2.0 * kLanes * static_cast<double>(iters) * threads / t);
    if (t > 0.1) break;
  }
  return best;
}

// Bytes of the copied buffer: 4x the last-level cache, between 256 MiB and 1 GiB.
size_t copy_buffer_bytes() {
  long llc = 0;
#if defined(_SC_LEVEL3_CACHE_SIZE)
  llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
  const size_t lo = size_t{256} << 20, hi = size_t{1} << 30;
  return std::clamp(llc > 0 ? 4 * static_cast<size_t>(llc) : lo, lo, hi);
}

double measure_bandwidth(int threads, size_t bytes) {
  const size_t n = bytes / sizeof(float);
  std::unique_ptr<float[]> src(new float[n]), dst(new float[n]);
  // First touch on the threads that copy, so pages sit near them.
#pragma omp parallel for schedule(static) num_threads(threads)
  for (size_t i = 0; i < n; ++i) {
    src[i] = static_cast<float>(i & 1023);
    dst[i] = 0;
  }
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    auto t0 = Clock::now();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (size_t i = 0; i < n; ++i) dst[i] = src[i];
    double t = seconds_since(t0);
    best = std::max(best, 2.0 * static_cast<double>(n * sizeof(float)) / t);
  }
  volatile float keep = dst[n / 2];
  (void)keep;
  return best;
}

}  // namespace

MachinePeaks measure_host_peaks() {
  MachinePeaks p;
  p.threads = omp_get_max_threads();
  p.flops = measure_flops(p.threads);
  p.copy_bytes = static_cast<double>(copy_buffer_bytes());
  p.bandwidth = measure_bandwidth(p.threads, copy_buffer_bytes());
  return p;
}

double roofline_fraction(const MachinePeaks& peaks, double flops, double bytes, double seconds) {
  if (peaks.flops <= 0 || peaks.bandwidth <= 0 || seconds <= 0) return -1;
  double bound = std::max(flops / peaks.flops, bytes / peaks.bandwidth);
  return bound > 0 ? bound / seconds : -1;
}

}  // namespace ember::cases
