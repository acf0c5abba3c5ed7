// Random fills of the cpu backend: element i = f(philox(seed, offset, i)).
#include <omp.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/loops.h"
#include "tensor/philox.h"

namespace ember::cpu {

namespace {

template <typename T, typename F>
void fill_indexed(const Tensor& out, F f) {
  T* o = static_cast<T*>(out.raw_data());
  const int64_t n = out.numel();
  bool parallel = n >= kParallelGrain / 8 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t i = 0; i < n; ++i) o[i] = f(static_cast<uint64_t>(i));
}

}  // namespace

void CpuBackend::random(const Tensor& out, RandomDist dist, uint64_t seed, uint64_t offset,
                        double a, double b) {
  using philox::draw;
  switch (dist) {
    case RandomDist::uniform:
      if (out.dtype() == DType::f32) {
        const auto lo = static_cast<float>(a), span = static_cast<float>(b - a);
        return fill_indexed<float>(out, [=](uint64_t i) {
          return lo + span * philox::uniform_f32(draw(seed, offset, i));
        });
      }
      return fill_indexed<double>(out, [=](uint64_t i) {
        return a + (b - a) * philox::uniform_f64(draw(seed, offset, i));
      });
    case RandomDist::normal:
      if (out.dtype() == DType::f32)
        return fill_indexed<float>(out, [=](uint64_t i) {
          return static_cast<float>(a + b * philox::normal_f64(draw(seed, offset, i)));
        });
      return fill_indexed<double>(
          out, [=](uint64_t i) { return a + b * philox::normal_f64(draw(seed, offset, i)); });
    case RandomDist::randint: {
      const auto lo = static_cast<int64_t>(a), hi = static_cast<int64_t>(b);
      return EMBER_DISPATCH(out.dtype(), "randint", [&](auto tag) {
        using T = decltype(tag);
        fill_indexed<T>(out, [=](uint64_t i) {
          return static_cast<T>(philox::randint(draw(seed, offset, i), lo, hi));
        });
      });
    }
  }
}

}  // namespace ember::cpu
