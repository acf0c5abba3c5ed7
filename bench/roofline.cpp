#include "roofline.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace ember_bench {
namespace {

// One vector register of the widest width the build targets: 16 floats with AVX-512, 8
// with AVX, 4 otherwise. This file is compiled with -march=native so `a * b + c` becomes
// FMA instructions. (A 16-float vector on an AVX2 build is two ymm registers each, and 12
// accumulators of them plus the operands need 28 of the 16 registers: the loop spilled
// to the stack and measured 12.9 GFLOP/s on a Zen 3 that reaches ~110 in a GEMM.)
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float vec __attribute__((vector_size(kLanes * sizeof(float))));

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 12 independent accumulators per thread: an FMA's latency (4-5 cycles) times two FMA
// pipes needs at least 10 in flight to keep both pipes busy.
constexpr int kAccumulators = 12;

// Without -ffast-math the compiler may not reassociate the chains, and `iterations` is a
// run-time value: the loop is neither folded nor shortened, and the result is stored.
// FLOPs done by `iterations` rounds on each of `threads` threads, and the seconds taken.
double fma_seconds(int threads, int64_t iterations, float* sink) {
  const double start = now();
#pragma omp parallel num_threads(threads)
  {
    vec acc[kAccumulators];
    const float seed = static_cast<float>(omp_get_thread_num()) * 1e-3f;
    for (int j = 0; j < kAccumulators; ++j) acc[j] = vec{} + (seed + static_cast<float>(j));
    // Multiplier and addend near 1 and 0 keep the values finite and normal for ever.
    const vec mul = vec{} + 0.999999f, add = vec{} + 1e-7f;
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
      for (int j = 0; j < kAccumulators; ++j) acc[j] = acc[j] * mul + add;
    }
    vec total = acc[0];
    for (int j = 1; j < kAccumulators; ++j) total += acc[j];
    float s = 0;
    for (int l = 0; l < kLanes; ++l) s += total[l];
    sink[omp_get_thread_num()] = s;
  }
  return now() - start;
}

double peak_flops(int threads) {
  auto sink = std::make_unique<float[]>(static_cast<size_t>(threads));
  volatile int64_t iterations_at_run_time = 20'000'000;  // ~0.1 s per trial at 100 GFLOP/s
  const int64_t kIterations = iterations_at_run_time;  // ~0.1 s per trial at 2 FMA pipes and 3 GHz
  const double flops_per_run = static_cast<double>(threads) * static_cast<double>(kIterations) *
                               kAccumulators * kLanes * 2;  // FMA = 2 FLOPs
  double best = 0;
  for (int trial = 0; trial < 5; ++trial)
    best = std::max(best, flops_per_run / fma_seconds(threads, kIterations, sink.get()));
  return best;
}

// Copy (a = b: 8 bytes per element), triad (a = b + s c: 12 bytes per element) and update
// (a = a + s b: 12 bytes per element) over 3 arrays of 32 Mi floats (128 MiB each), first
// touched by the threads that use them. Copy and triad store to lines they did not read,
// so the hardware also reads each of a's lines before writing it (write-allocate: 1.5x
// and 1.33x the counted bytes); update reads a before writing it, as an optimizer step's
// in-place updates do, so its counted bytes are its traffic. Without it, Adam's rows
// measured 1.6x the "roofline" on this machine.
void bandwidth(int threads, double& copy_rate, double& triad_rate, double& update_rate) {
  constexpr int64_t n = int64_t{32} << 20;
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
  float *pa = a.get(), *pb = b.get(), *pc = c.get();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    pa[i] = 0.f;
    pb[i] = 1.f + static_cast<float>(i & 7);
    pc[i] = 2.f;
  }
  copy_rate = triad_rate = update_rate = 0;
  const double bytes = static_cast<double>(n) * sizeof(float);
  for (int trial = 0; trial < 5; ++trial) {
    double t = now();
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i];
    copy_rate = std::max(copy_rate, 2 * bytes / (now() - t));
    t = now();
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + 0.5f * pc[i];
    triad_rate = std::max(triad_rate, 3 * bytes / (now() - t));
    t = now();
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) pc[i] = pc[i] + 1e-7f * pb[i];
    update_rate = std::max(update_rate, 3 * bytes / (now() - t));
  }
  volatile float keep = pa[n / 2] + pc[n / 3];
  (void)keep;
}

}  // namespace

Roofline measure_roofline(int threads) {
  Roofline r;
  r.flops = peak_flops(threads);
  bandwidth(threads, r.copy_bytes, r.triad_bytes, r.update_bytes);
  r.bytes = std::max({r.copy_bytes, r.triad_bytes, r.update_bytes});
  return r;
}

std::optional<double> roofline_fraction(const Roofline& roof, double flops, double bytes,
                                        std::optional<double> seconds) {
  if (!seconds || *seconds <= 0 || roof.flops <= 0 || roof.bytes <= 0) return std::nullopt;
  return std::max(flops / roof.flops, bytes / roof.bytes) / *seconds;
}

}  // namespace ember_bench
