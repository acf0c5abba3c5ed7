// GradScaler's kernels (issue 16, scaler), PyTorch's _amp_foreach_non_finite_check_and_unscale_
// and _amp_update_scale_.
//
// Math:   unscale, per element of every tensor: found |= !isfinite(x);  x = x * inv_scale
//         (in T: f32 for f32, f64 for f64, PyTorch's opmath). The check reads x before the
//         product, so a finite gradient that the product overflows is not reported (as
//         PyTorch). update: found ? (scale *= backoff, tracker = 0)
//                               : (++tracker == interval ? (scale *= growth when finite,
//                                                           tracker = 0) : -).
// Shapes: unscale: a group of contiguous tensors of one dtype (f32 or f64); found_inf and
//         inv_scale one f32 each. update: scale f32, tracker i64, found_inf f32.
// Split:  unscale walks (tensor, chunk) pairs as the optimizer kernels (multi_tensor.h):
//         up to sm_count * 8 blocks of 256 threads, 16-byte packs where aligned. A thread
//         that saw an inf or NaN writes 1 to found_inf once (atomicExch: every writer stores
//         the same value, and the simulator's blocks run on several OS threads). The update
//         is one thread of one block.
// Cost:   unscale: 1 FLOP, 8 bytes (f32) per element, plus the chunk table copy; update: O(1).
// Pre:    validated by tensor/raw_amp.cpp.
#include <cstdint>
#include <vector>

#include "kernels/cuda/amp.h"
#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/multi_tensor.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace ember::EMBER_VARIANT {

namespace {

template <typename T>
struct UnscaleDesc {
  T* x;
  int64_t n;
  int32_t vec;
};

// inf and NaN fail the comparison; the f64 widening keeps both.
template <typename T>
EMBER_DEVICE bool is_finite(T v) {
  return d_abs(static_cast<double>(v)) <= 1.7976931348623157e308;
}

template <typename T>
__global__ void amp_unscale_multi_tensor(const UnscaleDesc<T>* descs, const Chunk* chunks,
                                         int64_t n_chunks, float* found_inf,
                                         const float* inv_scale) {
  constexpr int V = kPack<T>;
  using P = Pack<T, V>;
  using A = opmath_t<T>;  // bf16/f16: f32 math, one rounding (issue 16, halfnn2)
  const A inv = static_cast<A>(*inv_scale);
  bool bad = false;
  for (int64_t ci = blockIdx.x; ci < n_chunks; ci += gridDim.x) {
    const Chunk ch = chunks[ci];
    const UnscaleDesc<T> d = descs[ch.tensor];
    for_chunk<V>(
        ch, d.n, d.vec != 0,
        [&](int64_t i) {
          const A v = static_cast<A>(d.x[i]);
          bad = bad || !is_finite(v);
          d.x[i] = static_cast<T>(v * inv);
        },
        [&](int64_t i) {
          P x = *reinterpret_cast<const P*>(d.x + i);
          EMBER_UNROLL
          for (int k = 0; k < V; ++k) {
            const A v = static_cast<A>(x.v[k]);
            bad = bad || !is_finite(v);
            x.v[k] = static_cast<T>(v * inv);
          }
          *reinterpret_cast<P*>(d.x + i) = x;
        });
  }
  if (bad) atomicExch(found_inf, 1.0f);
}

__global__ void amp_update_scale_kernel(float* scale, int64_t* tracker, const float* found_inf,
                                        double growth_factor, double backoff_factor,
                                        int64_t growth_interval) {
  if (*found_inf != 0.0f) {
    *scale = static_cast<float>(*scale * backoff_factor);
    *tracker = 0;
    return;
  }
  const int64_t successful = *tracker + 1;
  if (successful == growth_interval) {
    const float grown = static_cast<float>(*scale * growth_factor);
    if (is_finite(grown)) *scale = grown;
    *tracker = 0;
  } else {
    *tracker = successful;
  }
}

template <typename T>
void run_unscale(const std::vector<UnscaleSlot>& slots, float* found_inf, const float* inv_scale) {
  std::vector<UnscaleDesc<T>> descs;
  descs.reserve(slots.size());
  for (const UnscaleSlot& s : slots)
    if (s.n > 0) descs.push_back({static_cast<T*>(s.data), s.n, aligned16(s.data) ? 1 : 0});
  if (descs.empty()) return;
  ChunkTable<UnscaleDesc<T>> table(descs);
  launch({"amp_unscale_multi_tensor", dim3(table.grid()), dim3(kThreads)},
         &amp_unscale_multi_tensor<T>, table.descs(), table.chunks(), table.n_chunks(), found_inf,
         inv_scale);
}

}  // namespace

void launch_amp_unscale(DType dtype, const std::vector<UnscaleSlot>& slots, float* found_inf,
                        const float* inv_scale) {
  switch (dtype) {
    case DType::f32: return run_unscale<float>(slots, found_inf, inv_scale);
    case DType::f64: return run_unscale<double>(slots, found_inf, inv_scale);
    case DType::bf16: return run_unscale<bf16>(slots, found_inf, inv_scale);  // issue 16, halfnn2
    case DType::f16: return run_unscale<f16>(slots, found_inf, inv_scale);
    default: fail<DTypeError>("amp_unscale", "no kernel for ", dtype);
  }
}

void launch_amp_update_scale(float* scale, int64_t* growth_tracker, const float* found_inf,
                             const AmpScaleParams& p) {
  launch({"amp_update_scale", dim3(1), dim3(1)}, &amp_update_scale_kernel, scale, growth_tracker,
         found_inf, p.growth_factor, p.backoff_factor, p.growth_interval);
}

}  // namespace ember::EMBER_VARIANT
