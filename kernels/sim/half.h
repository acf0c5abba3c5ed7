// CUDA's 16-bit float types for host compilation: __half (IEEE binary16) and
// __nv_bfloat16 (bfloat16), with the conversions of cuda_fp16.h / cuda_bf16.h.
//
// float -> 16 bits rounds to nearest, ties to even; NaN becomes the canonical 0x7FFF
// (as the PTX cvt instructions give). Arithmetic goes through float and rounds once:
// float carries 24 >= 2*11+2 bits, so double rounding cannot differ from the correctly
// rounded half (or bfloat16) result for +, -, *, /.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/sim/vector_types.h"

namespace ember::sim {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t float_to_half_bits(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return 0x7FFF;                                  // NaN
  if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520: inf
  if (a >= 0x38800000u) {                                              // normal half: >= 2^-14
    uint32_t r = a - 0x38000000u;                                      // rebias 127 -> 15
    r += 0xFFFu + ((r >> 13) & 1u);                                    // round to nearest even
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  if (a <= 0x33000000u) return static_cast<uint16_t>(sign);  // <= 2^-25: rounds to 0
  // Subnormal half: value = m * 2^(e-150), in units of 2^-24 that is m >> (126 - e).
  const uint32_t e = a >> 23;
  const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126u - e;
  uint32_t h = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t{h} & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  if (e == 0x1F) return bits_float(sign | 0x7F800000u | (m << 13));
  if (e == 0) {  // zero or subnormal: m * 2^-24, exact in float
    float v = static_cast<float>(m) * 0x1p-24f;
    return sign ? -v : v;
  }
  return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

inline uint16_t float_to_bf16_bits(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;  // NaN
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_bits_to_float(uint16_t b) { return bits_float(uint32_t{b} << 16); }

// A 16-bit float stored as raw bits. Kind 0: binary16, kind 1: bfloat16.
template <int Kind>
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  Float16(float f) : bits(Kind == 0 ? float_to_half_bits(f) : float_to_bf16_bits(f)) {}  // NOLINT
  Float16(double d) : Float16(static_cast<float>(d)) {}                                  // NOLINT
  Float16(int i) : Float16(static_cast<float>(i)) {}                                     // NOLINT
  operator float() const {  // NOLINT: implicit, as CUDA's types convert
    return Kind == 0 ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
  }
  static Float16 from_bits(uint16_t b) {
    Float16 h;
    h.bits = b;
    return h;
  }
  Float16& operator+=(Float16 o) { return *this = Float16(float(*this) + float(o)); }
  Float16& operator-=(Float16 o) { return *this = Float16(float(*this) - float(o)); }
  Float16& operator*=(Float16 o) { return *this = Float16(float(*this) * float(o)); }
  Float16& operator/=(Float16 o) { return *this = Float16(float(*this) / float(o)); }
  friend Float16 operator+(Float16 a, Float16 b) { return Float16(float(a) + float(b)); }
  friend Float16 operator-(Float16 a, Float16 b) { return Float16(float(a) - float(b)); }
  friend Float16 operator*(Float16 a, Float16 b) { return Float16(float(a) * float(b)); }
  friend Float16 operator/(Float16 a, Float16 b) { return Float16(float(a) / float(b)); }
  friend Float16 operator-(Float16 a) { return from_bits(static_cast<uint16_t>(a.bits ^ 0x8000u)); }
  friend bool operator==(Float16 a, Float16 b) { return float(a) == float(b); }
  friend bool operator<(Float16 a, Float16 b) { return float(a) < float(b); }
  friend bool operator>(Float16 a, Float16 b) { return float(a) > float(b); }
  friend bool operator<=(Float16 a, Float16 b) { return float(a) <= float(b); }
  friend bool operator>=(Float16 a, Float16 b) { return float(a) >= float(b); }
};

template <int Kind>
struct Float16x2 {
  Float16<Kind> x, y;
};

}  // namespace ember::sim

using __half = ember::sim::Float16<0>;
using __nv_bfloat16 = ember::sim::Float16<1>;
using __half2 = ember::sim::Float16x2<0>;
using __nv_bfloat162 = ember::sim::Float16x2<1>;

inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return float(h); }
inline __half __ushort_as_half(unsigned short b) { return __half::from_bits(b); }
inline unsigned short __half_as_ushort(__half h) { return h.bits; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return float(b); }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short b) { return __nv_bfloat16::from_bits(b); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.bits; }
inline __half2 __floats2half2_rn(float a, float b) { return {__half(a), __half(b)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return {__nv_bfloat16(a), __nv_bfloat16(b)};
}
inline float2 __half22float2(__half2 h) { return {float(h.x), float(h.y)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {float(h.x), float(h.y)}; }
inline __half __hadd(__half a, __half b) { return a + b; }
inline __half __hsub(__half a, __half b) { return a - b; }
inline __half __hmul(__half a, __half b) { return a * b; }
inline __half __hdiv(__half a, __half b) { return a / b; }
inline __half __hneg(__half a) { return -a; }
inline __half __habs(__half a) {
  return __half::from_bits(static_cast<uint16_t>(a.bits & 0x7FFFu));
}
// fma: the float product of two 16-bit floats is exact; the sum rounds in float and
// again to 16 bits, which can differ from the hardware's single rounding in the last
// bit in rare cases (the 2p+2 argument above covers one operation, not a fused pair).
inline __half __hfma(__half a, __half b, __half c) {
  return __half(float(a) * float(b) + float(c));
}
inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) { return a + b; }
inline __nv_bfloat16 __hmul(__nv_bfloat16 a, __nv_bfloat16 b) { return a * b; }
inline __nv_bfloat16 __hfma(__nv_bfloat16 a, __nv_bfloat16 b, __nv_bfloat16 c) {
  return __nv_bfloat16(float(a) * float(b) + float(c));
}
inline bool __hisnan(__half a) { return (a.bits & 0x7FFFu) > 0x7C00u; }
inline bool __hisnan(__nv_bfloat16 a) { return (a.bits & 0x7FFFu) > 0x7F80u; }
