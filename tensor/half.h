// ember::bf16 and ember::f16: the storage types of the 16-bit floating dtypes.
//
// Each is a 16-bit payload with conversions to and from float, nothing more: kernels
// compute in f32 and round back (as PyTorch's opmath), so there is no half arithmetic
// here. The same structs serve host code, the `sim` device and, compiled by nvcc, device
// code (their layout is that of __nv_bfloat16 / __half, so buffers can be reinterpreted).
//
// float -> 16 bits rounds to nearest, ties to even; infinities stay infinities, a value
// past the largest finite one rounds to infinity as IEEE says, NaN becomes a quiet NaN
// (its sign and top payload bits kept); f16 subnormals are produced and read exactly.
// 16 bits -> float is exact.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#define EMBER_HALF_FN __host__ __device__ __forceinline__
#else
#define EMBER_HALF_FN inline
#endif

namespace ember {

namespace half_bits {

EMBER_HALF_FN uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
EMBER_HALF_FN float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// bf16 is the top half of an f32: round the low 16 bits away, ties to even.
EMBER_HALF_FN uint16_t float_to_bf16(float f) {
  uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);
  x += 0x7fffu + ((x >> 16) & 1u);  // carries into the exponent; the largest values reach inf
  return static_cast<uint16_t>(x >> 16);
}
EMBER_HALF_FN float bf16_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

// f16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals below 2^-14.
EMBER_HALF_FN uint16_t float_to_f16(float f) {
  uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
  if (x >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (x < 0x38800000u) {                                               // below 2^-14
    if (x < 0x33000000u) return static_cast<uint16_t>(sign);           // below 2^-25: 0
    // The subnormal counts units of 2^-24: the 24-bit significand shifted right.
    const uint32_t e = x >> 23, mant = (x & 0x7fffffu) | 0x800000u, shift = 126u - e;
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;  // may reach 0x400, the least normal
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t h = (((x >> 23) - 112u) << 10) | ((x >> 13) & 0x3ffu);
  const uint32_t rem = x & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry moves the exponent
  return static_cast<uint16_t>(sign | h);
}
EMBER_HALF_FN float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return bits_float(sign | 0x7f800000u | (m << 13));  // inf, NaN payload kept
  if (e == 0) {
    if (m == 0) return bits_float(sign);
    e = 113;  // normalize the subnormal: m * 2^-24
    while (!(m & 0x400u)) {
      m <<= 1;
      --e;
    }
    return bits_float(sign | (e << 23) | ((m & 0x3ffu) << 13));
  }
  return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

}  // namespace half_bits

// Conversions from float are explicit (they round); to float implicit (they are exact), so
// `float(x) * y` and comparisons read naturally while no rounding happens unasked.
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  EMBER_HALF_FN explicit bf16(float f) : bits(half_bits::float_to_bf16(f)) {}
  EMBER_HALF_FN static bf16 from_bits(uint16_t b) {
    bf16 h;
    h.bits = b;
    return h;
  }
  EMBER_HALF_FN operator float() const { return half_bits::bf16_to_float(bits); }
};

struct f16 {
  uint16_t bits = 0;
  f16() = default;
  EMBER_HALF_FN explicit f16(float f) : bits(half_bits::float_to_f16(f)) {}
  EMBER_HALF_FN static f16 from_bits(uint16_t b) {
    f16 h;
    h.bits = b;
    return h;
  }
  EMBER_HALF_FN operator float() const { return half_bits::f16_to_float(bits); }
};

static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2, "16-bit storage");
static_assert(std::is_trivially_copyable_v<bf16> && std::is_trivially_copyable_v<f16>);

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, bf16> || std::is_same_v<T, f16>;

// The type kernels compute a T in: float for the halves (PyTorch's opmath type), T otherwise.
template <typename T>
using opmath_t = std::conditional_t<is_half_v<T>, float, T>;

}  // namespace ember
