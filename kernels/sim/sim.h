// What a CUDA source sees of the GPU, for host compilation by the SIMT simulator.
//
// kernels/cuda/target.h includes this header instead of the CUDA runtime when the host
// compiler (not nvcc) compiles a kernels/cuda source. It provides the execution-space
// qualifiers, the built-in variables, __shared__ memory, barriers, warp shuffles and
// votes, atomics, the math and bit intrinsics ember's kernels use, vector types and the
// 16-bit float types.
//
// __shared__ becomes function-static thread_local storage: a block's threads all run on
// one OS thread and each OS thread runs one block at a time, so that storage is exactly
// per block. Dynamic shared memory (`extern __shared__ T a[]` on a GPU) has no host
// equivalent; kernels declare it with EMBER_DYNAMIC_SHARED (kernels/cuda/target.h).
#pragma once

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "kernels/sim/half.h"
#include "kernels/sim/scheduler.h"
#include "kernels/sim/vector_types.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static thread_local
#define __constant__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __grid_constant__

#define threadIdx (::ember::sim::detail::thread_idx())
#define blockIdx (::ember::sim::detail::block_idx())
#define blockDim (::ember::sim::detail::block_dim())
#define gridDim (::ember::sim::detail::grid_dim())
inline constexpr int warpSize = 32;

// ---- barriers and warp operations ---------------------------------------------------------

inline void __syncthreads() { ::ember::sim::detail::syncthreads(0, 0); }
inline int __syncthreads_count(int pred) { return ::ember::sim::detail::syncthreads(pred != 0, 1); }
inline int __syncthreads_and(int pred) { return ::ember::sim::detail::syncthreads(pred != 0, 2); }
inline int __syncthreads_or(int pred) { return ::ember::sim::detail::syncthreads(pred != 0, 3); }
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu) {
  ::ember::sim::detail::warp_exchange(::ember::sim::detail::WarpOp::sync, mask, 0, 0, 32);
}
inline unsigned __activemask() { return ::ember::sim::detail::active_mask(); }
[[noreturn]] inline void __trap() { ::ember::sim::detail::trap("__trap() called"); }

namespace ember::sim::detail {
template <typename T>
T shuffle(WarpOp op, unsigned mask, T var, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>,
                "a shuffled value has at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  bits = warp_exchange(op, mask, bits, arg, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
}  // namespace ember::sim::detail

template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  return ::ember::sim::detail::shuffle(::ember::sim::detail::WarpOp::shfl_idx, mask, var, src_lane,
                                       width);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return ::ember::sim::detail::shuffle(::ember::sim::detail::WarpOp::shfl_up, mask, var,
                                       static_cast<int>(delta), width);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  return ::ember::sim::detail::shuffle(::ember::sim::detail::WarpOp::shfl_down, mask, var,
                                       static_cast<int>(delta), width);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  return ::ember::sim::detail::shuffle(::ember::sim::detail::WarpOp::shfl_xor, mask, var, lane_mask,
                                       width);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return static_cast<unsigned>(::ember::sim::detail::warp_exchange(
      ::ember::sim::detail::WarpOp::ballot, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) {
  return static_cast<int>(::ember::sim::detail::warp_exchange(::ember::sim::detail::WarpOp::any,
                                                              mask, pred != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int pred) {
  return static_cast<int>(::ember::sim::detail::warp_exchange(::ember::sim::detail::WarpOp::all,
                                                              mask, pred != 0, 0, 32));
}

// ---- atomics ------------------------------------------------------------------------------
// Threads of one block never run at the same time, but blocks run on several OS threads,
// so every atomic is a real one.

// The read-modify-writes std::atomic_ref has: atomicAdd, atomicSub, atomicExch, and/or/xor.
#define EMBER_SIM_ATOMIC_RMW(name, method)                                      \
  template <typename T>                                                         \
  T name(T* address, T val) {                                                   \
    return std::atomic_ref<T>(*address).method(val, std::memory_order_relaxed); \
  }
EMBER_SIM_ATOMIC_RMW(atomicAdd, fetch_add)
EMBER_SIM_ATOMIC_RMW(atomicSub, fetch_sub)
EMBER_SIM_ATOMIC_RMW(atomicExch, exchange)
EMBER_SIM_ATOMIC_RMW(atomicAnd, fetch_and)
EMBER_SIM_ATOMIC_RMW(atomicOr, fetch_or)
EMBER_SIM_ATOMIC_RMW(atomicXor, fetch_xor)
#undef EMBER_SIM_ATOMIC_RMW

template <typename T>
T atomicCAS(T* address, T compare, T val) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, val, std::memory_order_relaxed);
  return compare;  // the old value, whether or not it was replaced
}

namespace ember::sim::detail {
// Stores val while replaces(old, val); returns the value before.
template <typename T, typename Replaces>
T atomic_update(T* address, T val, Replaces replaces) {
  std::atomic_ref<T> a(*address);
  T old = a.load(std::memory_order_relaxed);
  while (replaces(old, val) && !a.compare_exchange_weak(old, val, std::memory_order_relaxed)) {
  }
  return old;
}
}  // namespace ember::sim::detail

// Also on float and double, which CUDA lacks (kernels emulate those with atomicCAS).
template <typename T>
T atomicMax(T* address, T val) {
  return ::ember::sim::detail::atomic_update(address, val, [](T old, T v) { return old < v; });
}
template <typename T>
T atomicMin(T* address, T val) {
  return ::ember::sim::detail::atomic_update(address, val, [](T old, T v) { return v < old; });
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- math intrinsics ----------------------------------------------------------------------
// The fast intrinsics (__expf, ...) compute the exact function here: the GPU's versions
// are less accurate, so tests comparing devices need the tolerances they need anyway.

inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fmaf_rn(float x, float y, float z) { return std::fma(x, y, z); }
inline double __dadd_rn(double x, double y) { return x + y; }
inline double __dmul_rn(double x, double y) { return x * y; }
inline double __fma_rn(double x, double y, double z) { return std::fma(x, y, z); }
inline float __saturatef(float x) {
  return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f));
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float normcdff(float x) { return 0.5f * std::erfc(-x * 0.70710678118654752f); }
inline double normcdf(double x) { return 0.5 * std::erfc(-x * 0.70710678118654752440); }

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// ---- bits and conversions -----------------------------------------------------------------

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) {
  return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x));
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((uint64_t{a} * b) >> 32);
}
inline int __mulhi(int a, int b) { return static_cast<int>((int64_t{a} * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  __extension__ using u128 = unsigned __int128;
  return static_cast<unsigned long long>((static_cast<u128>(a) * b) >> 64);
}
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __double2float_rn(double x) { return static_cast<float>(x); }

// ---- memory access hints --------------------------------------------------------------------

template <typename T>
T __ldg(const T* p) {
  return *p;
}
template <typename T>
T __ldcs(const T* p) {
  return *p;
}
template <typename T>
void __stcs(T* p, T v) {
  *p = v;
}
