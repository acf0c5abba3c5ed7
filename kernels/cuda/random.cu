// Random fills from Philox-4x32-10: the same numbers as the cpu backend.
//
// Math:   out[i] = dist(philox(key = seed, counter = (i, offset))), with the mappings
//         of tensor/philox.h: uniform from 24 (f32) or 53 (f64) bits, normal by
//         Box-Muller in f64, randint from 64 bits modulo the range.
// Shapes: out (n) contiguous.
// Split:  grid-stride over elements, 256 threads per block; each element costs one
//         Philox evaluation (10 rounds of two 32x32->64 multiplies), independent of all
//         others, so any split gives the same numbers.
// Cost:   FLOPs ~ 40*n (integer ops; normal adds a log, a sqrt and a cos in f64);
//         bytes = n*sizeof(T).
// Pre:    randint: b > a. The bits match the cpu for uniform and randint; normal can
//         differ in the last ulp where the GPU's f64 log/cos round differently.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/random.h"
#include "tensor/error.h"
#include "tensor/philox.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void random_fill(T* out, int64_t n, RandomDist dist, uint64_t seed, uint64_t offset,
                            double a, double b) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const philox::U32x4 r = philox::draw(seed, offset, static_cast<uint64_t>(i));
    T v{};
    switch (dist) {
      case RandomDist::uniform:
        if constexpr (std::is_same_v<T, float>) {
          const auto lo = static_cast<float>(a), span = static_cast<float>(b - a);
          v = lo + span * philox::uniform_f32(r);
        } else if constexpr (std::is_same_v<T, double>) {
          v = a + (b - a) * philox::uniform_f64(r);
        }
        break;
      case RandomDist::normal:
        if constexpr (std::is_floating_point_v<T>)
          v = static_cast<T>(a + b * philox::normal_f64(r));
        break;
      case RandomDist::randint:
        v = static_cast<T>(philox::randint(r, static_cast<int64_t>(a), static_cast<int64_t>(b)));
        break;
    }
    out[i] = v;
  }
}

template <typename T>
void run(void* out, int64_t n, RandomDist dist, uint64_t seed, uint64_t offset, double a,
         double b) {
  const LaunchConfig cfg{"random_fill", dim3(grid_for(n, kThreads)), dim3(kThreads)};
  launch(cfg, &random_fill<T>, static_cast<T*>(out), n, dist, seed, offset, a, b);
}

}  // namespace

void launch_random(DType dtype, RandomDist dist, void* out, int64_t n, uint64_t seed,
                   uint64_t offset, double a, double b) {
  switch (dtype) {
    case DType::f32: return run<float>(out, n, dist, seed, offset, a, b);
    case DType::f64: return run<double>(out, n, dist, seed, offset, a, b);
    case DType::i64: return run<int64_t>(out, n, dist, seed, offset, a, b);
    default: fail<InternalError>("random", "no kernel for ", dtype);
  }
}

}  // namespace ember::EMBER_VARIANT
