// Device-side helpers every kernel file shares: math overloads, dtype conversions with
// the cpu backend's semantics, strided offsets, grid-stride loops and reductions over a
// warp or a block. Included after kernels/cuda/target.h.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/geometry.h"
#include "kernels/cuda/target.h"
#include "kernels/scalar_semantics.h"

namespace ember::EMBER_VARIANT {

// ---- math: one name for float and double (the C names exist on the GPU and the host) ----
EMBER_DEVICE float d_exp(float x) { return expf(x); }
EMBER_DEVICE double d_exp(double x) { return exp(x); }
EMBER_DEVICE float d_log(float x) { return logf(x); }
EMBER_DEVICE double d_log(double x) { return log(x); }
EMBER_DEVICE float d_sqrt(float x) { return sqrtf(x); }
EMBER_DEVICE double d_sqrt(double x) { return sqrt(x); }
EMBER_DEVICE float d_tanh(float x) { return tanhf(x); }
EMBER_DEVICE double d_tanh(double x) { return tanh(x); }
EMBER_DEVICE float d_erf(float x) { return erff(x); }
EMBER_DEVICE double d_erf(double x) { return erf(x); }
EMBER_DEVICE float d_sin(float x) { return sinf(x); }
EMBER_DEVICE double d_sin(double x) { return sin(x); }
EMBER_DEVICE float d_cos(float x) { return cosf(x); }
EMBER_DEVICE double d_cos(double x) { return cos(x); }
EMBER_DEVICE float d_pow(float x, float y) { return powf(x, y); }
EMBER_DEVICE double d_pow(double x, double y) { return pow(x, y); }
EMBER_DEVICE float d_abs(float x) { return fabsf(x); }
EMBER_DEVICE double d_abs(double x) { return fabs(x); }
EMBER_DEVICE float d_floor(float x) { return floorf(x); }
EMBER_DEVICE double d_floor(double x) { return floor(x); }
EMBER_DEVICE float d_ceil(float x) { return ceilf(x); }
EMBER_DEVICE double d_ceil(double x) { return ceil(x); }
EMBER_DEVICE float d_trunc(float x) { return truncf(x); }
EMBER_DEVICE double d_trunc(double x) { return trunc(x); }
// rint rounds half to even (the default rounding mode on the host, always on the GPU).
EMBER_DEVICE float d_rint(float x) { return rintf(x); }
EMBER_DEVICE double d_rint(double x) { return rint(x); }
EMBER_DEVICE float d_log1p(float x) { return log1pf(x); }
EMBER_DEVICE double d_log1p(double x) { return log1p(x); }
EMBER_DEVICE float d_expm1(float x) { return expm1f(x); }
EMBER_DEVICE double d_expm1(double x) { return expm1(x); }

// The scalar rules shared with the cpu backend (kernels/scalar_semantics.h).
using ::ember::scalar::convert;
using ::ember::scalar::int_pow;
using ::ember::scalar::is_nan;
using ::ember::scalar::nan_max;
using ::ember::scalar::nan_min;

// ---- index arithmetic ---------------------------------------------------------------------

EMBER_DEVICE int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
EMBER_DEVICE int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Element offsets of each operand for the row-major linear index i.
template <int N>
EMBER_DEVICE void offsets_of(const Geometry<N>& g, int64_t i, int64_t (&off)[N]) {
  EMBER_UNROLL
  for (int k = 0; k < N; ++k) off[k] = 0;
  EMBER_UNROLL
  for (int d = kMaxDims - 1; d >= 1; --d) {
    if (d < g.ndim) {
      const int64_t idx = i % g.sizes[d];
      i /= g.sizes[d];
      EMBER_UNROLL
      for (int k = 0; k < N; ++k) off[k] += idx * g.strides[k][d];
    }
  }
  EMBER_UNROLL
  for (int k = 0; k < N; ++k) off[k] += i * g.strides[k][0];  // the outermost dim: no division
}

// f(offsets) for every element, grid-stride.
template <int N, typename F>
EMBER_DEVICE void for_each_strided(const Geometry<N>& g, F f) {
  for (int64_t i = global_thread(); i < g.numel; i += grid_threads()) {
    int64_t off[N];
    offsets_of(g, i, off);
    f(off);
  }
}

// Contiguous operands in packs of V elements: out[i] = f(in[i]...), one aligned vector
// load and store per pack when every pointer allows it, scalar code otherwise.
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <int V, typename T>
EMBER_DEVICE bool aligned_for(const T* p) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * V) == 0;
}

template <int V, typename O, typename F, typename... I>
EMBER_DEVICE void apply_packs(Pack<O, V>& r, F f, const Pack<I, V>&... x) {
  EMBER_UNROLL
  for (int k = 0; k < V; ++k) r.v[k] = f(x.v[k]...);
}

template <int V, typename O, typename F, typename... I>
EMBER_DEVICE void map_contiguous(int64_t n, F f, O* out, const I*... in) {
  const int64_t start = global_thread(), step = grid_threads();
  int64_t done = 0;
  if ((aligned_for<V>(out) && ... && aligned_for<V>(in))) {
    const int64_t packs = n / V;
    for (int64_t p = start; p < packs; p += step) {
      Pack<O, V> r;
      apply_packs<V>(r, f, reinterpret_cast<const Pack<I, V>*>(in)[p]...);
      reinterpret_cast<Pack<O, V>*>(out)[p] = r;
    }
    done = packs * V;
  }
  for (int64_t i = done + start; i < n; i += step) out[i] = f(in[i]...);
}

// ---- reductions over a group of threads ------------------------------------------------------
// A group is a warp (one row per warp) or a whole block (one row per block); both offer
// rank/size and allreduce(value, merge), after which every member holds the result.

// A butterfly exchange across the full warp; types the hardware cannot shuffle (structs)
// overload shfl_xor beside their definition, where argument-dependent lookup finds it.
template <typename T>
EMBER_DEVICE T shfl_xor(T v, int offset) {
  return __shfl_xor_sync(0xFFFFFFFFu, v, offset);
}

template <typename T, typename Merge>
EMBER_DEVICE T warp_allreduce(T v, Merge merge) {
  EMBER_UNROLL
  for (int offset = 16; offset > 0; offset /= 2) v = merge(v, shfl_xor(v, offset));
  return v;
}

struct WarpGroup {
  int rank;  // lane
  static constexpr int size = 32;
  template <typename T, typename Merge>
  EMBER_DEVICE T allreduce(T v, Merge merge) const {
    return warp_allreduce(v, merge);
  }
};

struct BlockGroup {
  int rank;  // threadIdx.x
  int size;  // blockDim.x, a multiple of 32
  // Warps reduce, write one partial each, and every thread folds the partials in the
  // same order (so all agree bit for bit); the last barrier lets the caller reuse the
  // scratch right away.
  template <typename T, typename Merge>
  EMBER_DEVICE T allreduce(T v, Merge merge) const {
    __shared__ T partial[32];
    v = warp_allreduce(v, merge);
    if (rank % 32 == 0) partial[rank / 32] = v;
    __syncthreads();
    T r = partial[0];
    for (int w = 1; w < size / 32; ++w) r = merge(r, partial[w]);
    __syncthreads();
    return r;
  }
};

}  // namespace ember::EMBER_VARIANT

namespace ember::EMBER_VARIANT {

// Blocks for a grid-stride loop over `items` with `threads` per block: enough to fill
// every multiprocessor several times over, no more (each thread then loops).
inline unsigned grid_for(int64_t items, int threads) {
  const int64_t wanted = (items + threads - 1) / threads;
  const int64_t cap = int64_t{rt::props().sm_count} * 16;
  return static_cast<unsigned>(wanted < 1 ? 1 : (wanted < cap ? wanted : cap));
}

}  // namespace ember::EMBER_VARIANT
