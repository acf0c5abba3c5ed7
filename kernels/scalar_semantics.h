// The scalar rules every device's kernels share, written once for the cpu backend and for
// both builds of kernels/cuda (nvcc for cuda, the host compiler for sim): casts with the
// cpu's semantics, NaN-propagating maximum/minimum, integer powers. Keeping one copy is
// what makes `sim` and `cuda` agree with `cpu` bit for bit on these ops.
#pragma once

#include <cstdint>
#include <type_traits>

#include "tensor/half.h"

#if defined(__CUDACC__)
#define EMBER_SCALAR_FN __host__ __device__ __forceinline__
#else
#define EMBER_SCALAR_FN inline
#endif

namespace ember::scalar {

template <typename T>
EMBER_SCALAR_FN bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return x != x;
  } else {
    return false;
  }
}

// NaN-propagating maximum/minimum (torch.maximum): a NaN operand wins.
template <typename T>
EMBER_SCALAR_FN T nan_max(T a, T b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return a > b ? a : b;
}
template <typename T>
EMBER_SCALAR_FN T nan_min(T a, T b) {
  if (is_nan(a)) return a;
  if (is_nan(b)) return b;
  return a < b ? a : b;
}

// Casts: to bool is `!= 0`; float to integer truncates and pins out-of-range values and
// NaN to INT64_MIN (what x86 gives; C++ leaves them undefined and a GPU would saturate);
// to a narrower integer goes through i64 and wraps, as integer casts do (torch's float ->
// u8 does the same). bf16 and f16 go through float both ways (a double rounds to float
// first, as in c10's Half(double)).
template <typename O, typename I>
EMBER_SCALAR_FN O convert(I v) {
  if constexpr (std::is_same_v<O, I>) {
    return v;
  } else if constexpr (is_half_v<I>) {
    return convert<O>(static_cast<float>(v));
  } else if constexpr (is_half_v<O>) {
    return O(static_cast<float>(v));
  } else if constexpr (std::is_same_v<O, bool>) {
    return v != I(0);
  } else if constexpr (std::is_integral_v<O> && std::is_floating_point_v<I>) {
    constexpr I lim = static_cast<I>(9.2e18);
    const int64_t w = (v >= -lim && v <= lim) ? static_cast<int64_t>(v) : INT64_MIN;
    return static_cast<O>(w);
  } else {
    return static_cast<O>(v);
  }
}

// base^exp for integers, as PyTorch: a negative exponent gives 0 except for bases 1 and -1.
template <typename T>
EMBER_SCALAR_FN T int_pow(T base, T exp) {
  if (exp < 0) return (base == 1) ? 1 : (base == -1 ? ((exp & 1) ? -1 : 1) : 0);
  T result = 1;
  while (exp > 0) {
    if (exp & 1) result *= base;
    base *= base;
    exp >>= 1;
  }
  return result;
}

}  // namespace ember::scalar
