// The simulator's 16-bit floats: conversions round to nearest, ties to even, exactly as
// the GPU's cvt.rn instructions; checked against binary16 and bfloat16 references written
// from the definition (and the binary16 one against the compiler's _Float16, where it has one).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "kernels/sim/sim.h"

namespace ember::simtest {
namespace {

using sim::bits_float;
using sim::float_bits;

// The nearest bfloat16 to f, ties to even, found by comparing the two candidates in double.
uint16_t bf16_reference(float f) {
  if (std::isnan(f)) return 0x7FFF;
  const uint32_t u = float_bits(f);
  const uint32_t lo = u & 0xFFFF0000u;
  if (lo == u) return static_cast<uint16_t>(u >> 16);
  const uint32_t hi = lo + 0x10000u;  // next bfloat16 away from zero (may be inf)
  // Past the largest finite value, rounding treats infinity as the next step, 2^128.
  const double hi_value =
      (hi & 0x7F800000u) == 0x7F800000u ? std::copysign(0x1p128, f) : bits_float(hi);
  const double dl = std::fabs(static_cast<double>(f) - static_cast<double>(bits_float(lo)));
  const double dh = std::fabs(hi_value - static_cast<double>(f));
  if (dl < dh) return static_cast<uint16_t>(lo >> 16);
  if (dh < dl) return static_cast<uint16_t>(hi >> 16);
  return static_cast<uint16_t>(((lo >> 16) & 1u) ? hi >> 16 : lo >> 16);
}

// The value of the binary16 with bits b, from the definition (IEEE 754: a sign, 5 exponent
// bits biased by 15, 10 fraction bits; exponent 0 is subnormal, 31 infinity or NaN).
double half_value(uint16_t b) {
  const int e = (b >> 10) & 0x1F;
  const int m = b & 0x3FF;
  const double sign = (b & 0x8000u) ? -1.0 : 1.0;
  if (e == 0x1F) return m ? std::numeric_limits<double>::quiet_NaN() : sign * HUGE_VAL;
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}

// The nearest binary16 to f (not NaN), ties to even, found as bf16_reference: the largest
// half not above |f| and the next one compared in double (exactly, below 2^16).
// Written from the definition, not with the compiler's _Float16, which clang 14 (the
// sanitizer builds of .ci/run) lacks.
uint16_t half_reference(float f) {
  const auto sign = static_cast<uint16_t>(std::signbit(f) ? 0x8000u : 0u);
  const double a = std::fabs(static_cast<double>(f));
  uint16_t lo = 0, top = 0x7BFF;  // the positive finite halves increase with their bits
  while (lo < top) {
    const auto mid = static_cast<uint16_t>((lo + top + 1) / 2);
    if (half_value(mid) <= a) {
      lo = mid;
    } else {
      top = static_cast<uint16_t>(mid - 1);
    }
  }
  const auto hi = static_cast<uint16_t>(lo + 1);
  // Past the largest finite value, rounding treats infinity as the next step, 2^16.
  const double hi_value = hi == 0x7C00 ? 0x1p16 : half_value(hi);
  const double dl = a - half_value(lo), dh = hi_value - a;
  uint16_t r = (lo & 1u) ? hi : lo;  // a tie: the even one
  if (dl < dh) r = lo;
  if (dh < dl) r = hi;
  return static_cast<uint16_t>(sign | r);
}

TEST(Half, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const auto h = static_cast<uint16_t>(b);
    const float f = __half2float(__ushort_as_half(h));
    const double ref = half_value(h);
    if (std::isnan(f) || std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(f) && std::isnan(ref)) << b;
      continue;
    }
    EXPECT_EQ(float_bits(f), float_bits(static_cast<float>(ref))) << std::hex << b;
    EXPECT_EQ(__half_as_ushort(__float2half(f)), h) << std::hex << b;
  }
}

// Every midpoint between neighbouring finite halves (the ties) and its two float neighbours,
// both signs, then random floats (no NaN).
template <class Check>
void for_rounding_inputs(Check check) {
  for (uint32_t b = 0; b < 0x7C00u; ++b) {
    const float a = __half2float(__ushort_as_half(static_cast<uint16_t>(b)));
    const float c = __half2float(__ushort_as_half(static_cast<uint16_t>(b + 1)));
    const float mid = static_cast<float>((static_cast<double>(a) + c) / 2);
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f), -mid}) {
      check(f);
      if (::testing::Test::HasFatalFailure()) return;  // one report, as an ASSERT in a loop
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const float f = bits_float(rng());
    if (std::isnan(f)) continue;
    check(f);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(Half, FloatToHalfRoundsToNearestEven) {
  for_rounding_inputs([](float f) {
    ASSERT_EQ(__half_as_ushort(__float2half_rn(f)), half_reference(f)) << std::hexfloat << f;
    ASSERT_EQ(__half_as_ushort(__float2half(f)), half_reference(f)) << std::hexfloat << f;
  });
  EXPECT_EQ(__half_as_ushort(__float2half(65504.0f)), 0x7BFF);
  EXPECT_EQ(__half_as_ushort(__float2half(65519.99f)), 0x7BFF);
  EXPECT_EQ(__half_as_ushort(__float2half(65520.0f)), 0x7C00);  // the tie rounds to even: inf
  EXPECT_EQ(__half_as_ushort(__float2half(std::numeric_limits<float>::infinity())), 0x7C00);
  EXPECT_EQ(__half_as_ushort(__float2half(-std::numeric_limits<float>::infinity())), 0xFC00);
  EXPECT_EQ(__half_as_ushort(__float2half(0x1p-25f)), 0x0000);  // tie with 0: even
  EXPECT_EQ(__half_as_ushort(__float2half(0x1.8p-25f)), 0x0001);
  EXPECT_EQ(__half_as_ushort(__float2half(-0.0f)), 0x8000);
  EXPECT_TRUE(std::isnan(__half2float(__float2half(std::numeric_limits<float>::quiet_NaN()))));
}

// The reference against the compiler's IEEE binary16, where it has one (GCC on x86-64).
#if defined(__FLT16_MAX__)
TEST(Half, ReferenceMatchesFloat16) {
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const auto h = static_cast<uint16_t>(b);
    _Float16 x;
    std::memcpy(&x, &h, 2);
    const double ref = half_value(h);
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(static_cast<double>(x))) << b;
    } else {
      EXPECT_EQ(static_cast<double>(x), ref) << std::hex << b;
    }
  }
  for_rounding_inputs([](float f) {
    const _Float16 x = static_cast<_Float16>(f);
    uint16_t bits;
    std::memcpy(&bits, &x, 2);
    ASSERT_EQ(bits, half_reference(f)) << std::hexfloat << f;
  });
}
#endif

TEST(Half, Bfloat16RoundsToNearestEven) {
  std::mt19937 rng(11);
  for (int i = 0; i < 500000; ++i) {
    const float f = bits_float(rng());
    ASSERT_EQ(__bfloat16_as_ushort(__float2bfloat16(f)), bf16_reference(f)) << std::hexfloat << f;
  }
  EXPECT_EQ(__bfloat16_as_ushort(__float2bfloat16(bits_float(0x3F808000u))),
            0x3F80);  // tie, even down
  EXPECT_EQ(__bfloat16_as_ushort(__float2bfloat16(bits_float(0x3F818000u))),
            0x3F82);  // tie, even up
  EXPECT_EQ(__bfloat16_as_ushort(__float2bfloat16(bits_float(0x7F7FFFFFu))),
            0x7F80);  // max float: inf
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f)), 1.0f);
  EXPECT_TRUE(__hisnan(__float2bfloat16(std::numeric_limits<float>::quiet_NaN())));
}

TEST(Half, ArithmeticRoundsOnce) {
  const __half a = __float2half(1.0f), eps = __float2half(0x1p-11f);  // half the ulp of 1
  EXPECT_EQ(__half2float(__hadd(a, eps)), 1.0f);                      // tie: even
  EXPECT_EQ(__half2float(__hadd(a, __hadd(eps, eps))), 1.0f + 0x1p-10f);
  EXPECT_EQ(__half2float(__hmul(__float2half(3.0f), __float2half(0.5f))), 1.5f);
  EXPECT_EQ(__half2float(__hfma(__float2half(2.0f), __float2half(3.0f), __float2half(1.0f))), 7.0f);
  EXPECT_EQ(__half2float(__hneg(a)), -1.0f);
  EXPECT_EQ(__half2float(__habs(__float2half(-2.0f))), 2.0f);
  const float2 f2 = __half22float2(__floats2half2_rn(0.5f, -0.25f));
  EXPECT_EQ(f2.x, 0.5f);
  EXPECT_EQ(f2.y, -0.25f);
  EXPECT_TRUE(__float2half(2.0f) > __float2half(1.0f));
}

}  // namespace
}  // namespace ember::simtest
