// The cpu kernels' vectorizable f32 exp, tanh and erf (kernels/cpu/fast_math.h) against
// the f64 C library rounded to f32: the documented 1 ulp bound over a sweep of f32 bit
// patterns, and the special values (infinities, NaN, signed zero, overflow, subnormal
// results).
#include "kernels/cpu/fast_math.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>

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

TEST(FastMath, ErfWithinOneUlp) {
  float worst = 0;
  const int64_t m =
      max_ulps([](float x) { return fast_erf(x); }, [](double x) { return std::erf(x); }, &worst);
  EXPECT_LE(m, 1) << "at x = " << worst;
}

// fast_erf's largest distance from the f64 erf rounded to f32, and where.
struct WorstUlps {
  int64_t max = 0;
  float at = 0;
  void check(float x) {
    const int64_t d = ulps(fast_erf(x), std::erf(static_cast<double>(x)));
    if (d > max) {
      max = d;
      at = x;
    }
  }
  void check_odd(float x) {
    check(x);
    check(-x);
  }
};

// Every f32 within 2^18 steps of the switch between erf's two pieces (|x| = 0.921875), and
// every 31st in [0, 4.25] (the second piece up to where erf rounds to 1, and the smallest
// inputs, subnormals included).
TEST(FastMath, ErfDenseSweep) {
  WorstUlps w;
  const uint32_t cut = float_to_bits(0.921875f);
  for (uint32_t u = cut - (1u << 18); u <= cut + (1u << 18); ++u) w.check_odd(bits_to_float(u));
  for (uint32_t u = 0; u <= float_to_bits(4.25f); u += 31) w.check_odd(bits_to_float(u));
  EXPECT_LE(w.max, 1) << "at x = " << w.at;
}

// GELU's inputs: x / sqrt 2 for activations of a few units; odd symmetry bit for bit.
TEST(FastMath, ErfRandomAndOdd) {
  std::mt19937 gen(19);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  WorstUlps w;
  for (int i = 0; i < 1000000; ++i) {
    const float x = dist(gen);
    w.check(x);
    ASSERT_EQ(float_to_bits(fast_erf(-x)), float_to_bits(fast_erf(x)) ^ 0x80000000u) << x;
  }
  EXPECT_LE(w.max, 1) << "at x = " << w.at;
}

// Near 0 erf(x) ~ 2x / sqrt(pi): the absolute error there is far below f32's ulp at 1.
TEST(FastMath, ErfAbsoluteErrorNearZero) {
  double m = 0;
  for (float x = -0.01f; x <= 0.01f; x += 1.0e-6f)
    m = std::max(m, std::fabs(static_cast<double>(fast_erf(x)) - std::erf(static_cast<double>(x))));
  EXPECT_LT(m, 2e-9);
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

  EXPECT_EQ(fast_erf(inf), 1.0f);
  EXPECT_EQ(fast_erf(-inf), -1.0f);
  EXPECT_EQ(fast_erf(4.0f), 1.0f);  // erfc(4) = 1.5e-8 rounds away
  EXPECT_EQ(fast_erf(-1e30f), -1.0f);
  EXPECT_EQ(fast_erf(3.8f), static_cast<float>(std::erf(3.8)));  // still below 1
  EXPECT_LT(fast_erf(3.8f), 1.0f);
  EXPECT_TRUE(std::isnan(fast_erf(nan)));
  EXPECT_TRUE(std::isnan(fast_erf(-nan)));
  EXPECT_TRUE(std::signbit(fast_erf(-0.0f)));
  EXPECT_FALSE(std::signbit(fast_erf(0.0f)));
  EXPECT_EQ(fast_erf(0.0f), 0.0f);
  EXPECT_EQ(fast_erf(1e-30f), static_cast<float>(std::erf(1e-30)));
  EXPECT_EQ(fast_erf(-1e-30f), static_cast<float>(std::erf(-1e-30)));
  const float sub = std::numeric_limits<float>::denorm_min() * 1000.0f;  // subnormal
  EXPECT_LE(ulps(fast_erf(sub), std::erf(static_cast<double>(sub))), 1);
}

}  // namespace
}  // namespace ember::cpu
