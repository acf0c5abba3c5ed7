// The cpu kernels' vectorizable f32 exp and tanh (kernels/cpu/fast_math.h) against the
// f64 C library rounded to f32: the documented 1 ulp bound over a sweep of f32 bit patterns,
// and the special values (infinities, NaN, signed zero, overflow, subnormal results).
#include "kernels/cpu/fast_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

namespace ember::cpu {
namespace {

// Position of f on the f32 number line, so ulp distance is a difference of integers.
int64_t ordinal(float f) {
  const uint32_t u = float_to_bits(f);
  return (u & 0x80000000u) ? -static_cast<int64_t>(u & 0x7fffffffu) : static_cast<int64_t>(u);
}

int64_t ulps(float got, double want) {
  return std::llabs(ordinal(got) - ordinal(static_cast<float>(want)));
}

// Every 61st f32 in [-110, 110] (about 70 M values, all exponents, both signs, the
// overflow and subnormal edges of exp, tanh's branch switch at 0.625 and its saturation).
template <typename Fast, typename Ref>
int64_t max_ulps(Fast fast, Ref ref, float* worst) {
  int64_t m = 0;
  for (int64_t k = ordinal(-110.0f); k <= ordinal(110.0f); k += 61) {
    const uint32_t u = k < 0 ? (0x80000000u | static_cast<uint32_t>(-k)) : static_cast<uint32_t>(k);
    const float x = bits_to_float(u);
    const int64_t d = ulps(fast(x), ref(static_cast<double>(x)));
    if (d > m) {
      m = d;
      *worst = x;
    }
  }
  return m;
}

TEST(FastMath, ExpWithinOneUlp) {
  float worst = 0;
  const int64_t m =
      max_ulps([](float x) { return fast_exp(x); }, [](double x) { return std::exp(x); }, &worst);
  EXPECT_LE(m, 1) << "at x = " << worst;
}

TEST(FastMath, TanhWithinOneUlp) {
  float worst = 0;
  const int64_t m =
      max_ulps([](float x) { return fast_tanh(x); }, [](double x) { return std::tanh(x); }, &worst);
  EXPECT_LE(m, 1) << "at x = " << worst;
}

TEST(FastMath, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(fast_exp(inf), inf);
  EXPECT_EQ(fast_exp(-inf), 0.0f);
  EXPECT_EQ(fast_exp(89.0f), inf);  // overflow
  EXPECT_EQ(fast_exp(0.0f), 1.0f);
  EXPECT_EQ(fast_exp(-0.0f), 1.0f);
  EXPECT_EQ(fast_exp(-120.0f), 0.0f);  // below the smallest subnormal
  // A subnormal result (exp(-100) = 3.7e-44) comes back, not flushed to zero.
  EXPECT_EQ(fast_exp(-100.0f), static_cast<float>(std::exp(-100.0)));
  EXPECT_TRUE(std::isnan(fast_exp(nan)));

  EXPECT_EQ(fast_tanh(inf), 1.0f);
  EXPECT_EQ(fast_tanh(-inf), -1.0f);
  EXPECT_EQ(fast_tanh(30.0f), 1.0f);
  EXPECT_TRUE(std::isnan(fast_tanh(nan)));
  EXPECT_EQ(fast_tanh(1e-30f), 1e-30f);
  EXPECT_EQ(fast_tanh(-1e-30f), -1e-30f);
  EXPECT_TRUE(std::signbit(fast_tanh(-0.0f)));
  EXPECT_FALSE(std::signbit(fast_tanh(0.0f)));
}

}  // namespace
}  // namespace ember::cpu
