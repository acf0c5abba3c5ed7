// The simulator's 16-bit floats: conversions round to nearest, ties to even, exactly as
// the GPU's cvt.rn instructions; checked against GCC's _Float16 (IEEE binary16) and a
// bfloat16 reference written from the definition.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
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

// The references need the compiler's _Float16 (GCC has it on x86-64; clang 14, used by the
// ThreadSanitizer build, does not).
#if defined(__FLT16_MAX__)
uint16_t half_reference(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}

TEST(Half, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const auto h = static_cast<uint16_t>(b);
    const float f = __half2float(__ushort_as_half(h));
    _Float16 ref;
    std::memcpy(&ref, &h, 2);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(static_cast<float>(ref))) << b;
      continue;
    }
    EXPECT_EQ(float_bits(f), float_bits(static_cast<float>(ref))) << std::hex << b;
    EXPECT_EQ(__half_as_ushort(__float2half(f)), h) << std::hex << b;
  }
}

TEST(Half, FloatToHalfRoundsToNearestEven) {
  // Every midpoint between neighbouring halves (ties) and its two float neighbours.
  for (uint32_t b = 0; b < 0x7C00u; ++b) {
    const float a = __half2float(__ushort_as_half(static_cast<uint16_t>(b)));
    const float c = __half2float(__ushort_as_half(static_cast<uint16_t>(b + 1)));
    const float mid = static_cast<float>((static_cast<double>(a) + c) / 2);
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f), -mid}) {
      ASSERT_EQ(__half_as_ushort(__float2half_rn(f)), half_reference(f)) << f;
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const float f = bits_float(rng());
    if (std::isnan(f)) continue;
    ASSERT_EQ(__half_as_ushort(__float2half(f)), half_reference(f)) << std::hexfloat << f;
  }
  EXPECT_EQ(__half_as_ushort(__float2half(65504.0f)), 0x7BFF);
  EXPECT_EQ(__half_as_ushort(__float2half(65519.99f)), 0x7BFF);
  EXPECT_EQ(__half_as_ushort(__float2half(65520.0f)), 0x7C00);  // the tie rounds to even: inf
  EXPECT_EQ(__half_as_ushort(__float2half(std::numeric_limits<float>::infinity())), 0x7C00);
  EXPECT_EQ(__half_as_ushort(__float2half(0x1p-25f)), 0x0000);  // tie with 0: even
  EXPECT_EQ(__half_as_ushort(__float2half(0x1.8p-25f)), 0x0001);
  EXPECT_TRUE(std::isnan(__half2float(__float2half(std::numeric_limits<float>::quiet_NaN()))));
}
#else
TEST(Half, FloatConversionsMatchFloat16) {
  GTEST_SKIP() << "this compiler has no _Float16 to compare against";
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
