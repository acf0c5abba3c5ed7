// Random numbers: reproducible from the seed, distinct across seeds and calls, and with
// the right distributions (loose statistical bounds over 1e5 samples).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "ember/ember.h"
#include "tensor/philox.h"

namespace ember {
namespace {

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  s.min = v.front();
  s.max = v.front();
  for (double x : v) {
    s.mean += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size() - 1));
  return s;
}

constexpr int64_t kN = 100000;

TEST(Random, SameSeedSameNumbers) {
  manual_seed(42);
  std::vector<float> a = randn({1000}).to_vector<float>();
  std::vector<float> a2 = rand({7, 3}).to_vector<float>();
  std::vector<int64_t> a3 = randint(0, 100, {50}).to_vector<int64_t>();
  manual_seed(42);
  EXPECT_EQ(randn({1000}).to_vector<float>(), a);
  EXPECT_EQ(rand({7, 3}).to_vector<float>(), a2);
  EXPECT_EQ(randint(0, 100, {50}).to_vector<int64_t>(), a3);
}

TEST(Random, DifferentSeedsDiffer) {
  manual_seed(1);
  std::vector<float> a = randn({100}).to_vector<float>();
  manual_seed(2);
  std::vector<float> b = randn({100}).to_vector<float>();
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  EXPECT_LT(same, 3);
}

TEST(Random, ConsecutiveCallsDiffer) {
  manual_seed(7);
  std::vector<float> a = rand({100}).to_vector<float>();
  std::vector<float> b = rand({100}).to_vector<float>();
  EXPECT_NE(a, b);
  // Within one call, elements are not repeated either.
  std::set<float> distinct(a.begin(), a.end());
  EXPECT_GT(distinct.size(), 95u);
}

TEST(Random, RandIsUniformOnZeroOne) {
  manual_seed(3);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor t = rand({kN}, {.dtype = dt});
    EXPECT_EQ(t.dtype(), dt);
    Stats s = stats(t.to_vector<double>());
    EXPECT_GE(s.min, 0.0);
    EXPECT_LT(s.max, 1.0);
    EXPECT_NEAR(s.mean, 0.5, 0.01);
    EXPECT_NEAR(s.std, std::sqrt(1.0 / 12.0), 0.01);
    EXPECT_LT(s.min, 0.001);
    EXPECT_GT(s.max, 0.999);
  }
}

TEST(Random, RandnIsStandardNormal) {
  manual_seed(4);
  for (DType dt : {DType::f32, DType::f64}) {
    std::vector<double> v = randn({kN}, {.dtype = dt}).to_vector<double>();
    Stats s = stats(v);
    EXPECT_NEAR(s.mean, 0.0, 0.02);
    EXPECT_NEAR(s.std, 1.0, 0.02);
    int64_t within1 = 0;
    for (double x : v) within1 += std::fabs(x) < 1.0;
    EXPECT_NEAR(static_cast<double>(within1) / kN, 0.6827, 0.01);
    EXPECT_GT(s.max, 3.0);
    EXPECT_LT(s.min, -3.0);
    for (double x : v) ASSERT_TRUE(std::isfinite(x));
  }
}

TEST(Random, RandintStaysInRangeAndHitsEveryValue) {
  manual_seed(5);
  Tensor t = randint(-3, 4, {kN});
  EXPECT_EQ(t.dtype(), DType::i64);
  std::vector<int64_t> v = t.to_vector<int64_t>();
  std::vector<int64_t> counts(7, 0);
  for (int64_t x : v) {
    ASSERT_GE(x, -3);
    ASSERT_LT(x, 4);
    ++counts[static_cast<size_t>(x + 3)];
  }
  for (int64_t c : counts) EXPECT_NEAR(static_cast<double>(c) / kN, 1.0 / 7.0, 0.01);
  // A float dtype holds integers too.
  std::vector<double> f = randint(0, 10, {1000}, {.dtype = DType::f64}).to_vector<double>();
  for (double x : f) {
    ASSERT_EQ(x, std::floor(x));
    ASSERT_GE(x, 0);
    ASSERT_LT(x, 10);
  }
  // A large range.
  int64_t big = int64_t{1} << 40;
  for (int64_t x : randint(0, big, {1000}).to_vector<int64_t>()) {
    ASSERT_GE(x, 0);
    ASSERT_LT(x, big);
  }
}

TEST(Random, InPlaceUniformAndNormal) {
  manual_seed(6);
  Tensor u = empty({kN});
  u.uniform_(-2.0, 3.0);
  Stats su = stats(u.to_vector<double>());
  EXPECT_GE(su.min, -2.0);
  EXPECT_LT(su.max, 3.0);
  EXPECT_NEAR(su.mean, 0.5, 0.03);
  Tensor n = empty({kN}, {.dtype = DType::f64});
  n.normal_(10.0, 0.5);
  Stats sn = stats(n.to_vector<double>());
  EXPECT_NEAR(sn.mean, 10.0, 0.01);
  EXPECT_NEAR(sn.std, 0.5, 0.01);
  // In place on a strided view: only the view changes.
  Tensor base = zeros({4, 6});
  base.slice(1, 0, 6, 2).uniform_(1.0, 2.0);
  std::vector<float> v = base.to_vector<float>();
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % 2 == 0) {
      EXPECT_GE(v[i], 1.0f);
    } else {
      EXPECT_EQ(v[i], 0.0f);
    }
  }
}

TEST(Random, RandLikeFollowsTheSeed) {
  Tensor x = zeros({5, 5}, {.dtype = DType::f64});
  manual_seed(9);
  std::vector<double> a = randn_like(x).to_vector<double>();
  manual_seed(9);
  EXPECT_EQ(randn({5, 5}, {.dtype = DType::f64}).to_vector<double>(), a);
}

// Philox-4x32-10 against the known-answer vectors published with Random123.
TEST(Random, PhiloxMatchesRandom123KnownAnswers) {
  using philox::U32x4;
  auto check = [](U32x4 ctr, uint32_t k0, uint32_t k1, U32x4 want) {
    U32x4 got = philox::philox4x32_10(ctr, k0, k1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], want.v[i]) << "word " << i;
  };
  check(U32x4{{0, 0, 0, 0}}, 0, 0, U32x4{{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
  check(U32x4{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
        U32x4{{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
  check(U32x4{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
        U32x4{{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

}  // namespace
}  // namespace ember
