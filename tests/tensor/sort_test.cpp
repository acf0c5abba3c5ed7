// sort, topk and multinomial (issue 15) beyond the registry: torch's exact orders of ties
// and NaNs, topk's gradient, multinomial's frequencies against the probabilities, draws
// equal on cpu and sim for a seed, and bad arguments throwing ember::Error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace ember {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "nothing thrown";
  return "";
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// torch.sort(x, stable=True) of [3, nan, 1, 3, -inf, nan, 1], as PyTorch prints it.
TEST(Sort, TiesAndNaNsAsTorchOnCpuAndSim) {
  const std::vector<double> x = {3, kNaN, 1, 3, -kInf, kNaN, 1};
  for (Device dev : {Device::cpu(), Device::sim()}) {
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor t = from_vector(x, {7}, dev).to(dt);
      auto [va, ia] = sort(t);
      EXPECT_EQ(ia.cpu().to_vector<int64_t>(), (std::vector<int64_t>{4, 2, 6, 0, 3, 1, 5}));
      auto [vd, id] = t.sort(0, true);
      EXPECT_EQ(id.cpu().to_vector<int64_t>(), (std::vector<int64_t>{1, 5, 0, 3, 2, 6, 4}));
      std::vector<double> v = vd.cpu().to(DType::f64).to_vector<double>();
      EXPECT_TRUE(std::isnan(v[0]) && std::isnan(v[1]));
      EXPECT_EQ(v[2], 3.0);
      EXPECT_EQ(v[6], -kInf);
      // topk of the largest: NaNs first, then the 3s in index order.
      auto [tv, ti] = topk(t, 3);
      EXPECT_EQ(ti.cpu().to_vector<int64_t>(), (std::vector<int64_t>{1, 5, 0}));
      auto [sv, si] = t.topk(2, 0, false);
      EXPECT_EQ(si.cpu().to_vector<int64_t>(), (std::vector<int64_t>{4, 2}));
      EXPECT_EQ(argsort(t).cpu().to_vector<int64_t>(), ia.cpu().to_vector<int64_t>());
    }
  }
}

TEST(Sort, TopkGradientGoesToTheChosenPositions) {
  Tensor x = from_vector(std::vector<double>{1, 5, 3, 5, -2}, {5}).requires_grad_();
  auto [v, i] = topk(x, 3);
  (v * from_vector(std::vector<double>{1, 10, 100}, {3})).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 100, 10, 0}));
}

TEST(Sort, BadArgumentsNameTheOpAndShape) {
  Tensor x = randn({3, 4});
  EXPECT_THAT(message_of<IndexError>([&] { (void)topk(x, 5, 1); }),
              AllOf(HasSubstr("topk"), HasSubstr("k (5)"), HasSubstr("[3, 4]")));
  EXPECT_THAT(message_of<IndexError>([&] { (void)topk(x, -1); }), HasSubstr("topk"));
  EXPECT_THAT(message_of<IndexError>([&] { (void)sort(x, 2); }),
              AllOf(HasSubstr("sort"), HasSubstr("dim 2"), HasSubstr("[3, 4]")));
  EXPECT_THAT(message_of<IndexError>([&] { (void)argsort(x, -3); }), HasSubstr("argsort"));
}

// Counts of each category over n draws.
std::vector<int64_t> counts_of(const Tensor& draws, int64_t cats) {
  std::vector<int64_t> counts(static_cast<size_t>(cats), 0);
  for (int64_t c : draws.cpu().to_vector<int64_t>()) ++counts.at(static_cast<size_t>(c));
  return counts;
}

// 200k draws with replacement: every frequency within 5 standard errors sqrt(p (1 - p) / n)
// of its probability (a false alarm about once in 1.7 million per category), zero weights
// never drawn; on cpu and sim.
TEST(Multinomial, FrequenciesMatchTheProbabilities) {
  const std::vector<double> w = {1, 2, 0, 3, 4, 0.5};
  const double total = 10.5;
  constexpr int64_t n = 200000;
  for (Device dev : {Device::cpu(), Device::sim()}) {
    manual_seed(7);
    Tensor draws = multinomial(from_vector(w, {6}, dev).to(DType::f32), n, true);
    ASSERT_EQ(draws.sizes(), (Shape{n}));
    std::vector<int64_t> counts = counts_of(draws, 6);
    for (size_t c = 0; c < w.size(); ++c) {
      const double p = w[c] / total, f = static_cast<double>(counts[c]) / n;
      EXPECT_LE(std::abs(f - p), 5 * std::sqrt(p * (1 - p) / n) + 1e-12) << c << " on " << dev;
    }
    EXPECT_EQ(counts[2], 0);
  }
}

// Without replacement, sequential draws: a row's samples are distinct, the first is drawn
// with p_i and the pair (i, j) with p_i p_j / (1 - p_i); 100k rows of 2 draws.
TEST(Multinomial, WithoutReplacementDrawsInSequence) {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  constexpr int64_t rows = 100000;
  Tensor probs = from_vector(p, {1, 4}).expand({rows, 4}).contiguous();
  manual_seed(11);
  std::vector<int64_t> d = multinomial(probs, 2).to_vector<int64_t>();
  std::vector<double> pair(16, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t a = d[static_cast<size_t>(2 * r)], b = d[static_cast<size_t>(2 * r + 1)];
    ASSERT_NE(a, b);
    pair[static_cast<size_t>(a * 4 + b)] += 1.0 / rows;
  }
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      if (i == j) continue;
      const double q =
          p[static_cast<size_t>(i)] * p[static_cast<size_t>(j)] / (1 - p[static_cast<size_t>(i)]);
      EXPECT_LE(std::abs(pair[static_cast<size_t>(i * 4 + j)] - q),
                5 * std::sqrt(q * (1 - q) / rows))
          << i << "," << j;
    }
  }
  // All of a row's categories: a permutation.
  manual_seed(3);
  std::vector<int64_t> all = multinomial(from_vector(p, {4}), 4).to_vector<int64_t>();
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()), (std::set<int64_t>{0, 1, 2, 3}));
}

// The same seed draws the same categories on cpu and sim, both modes and dtypes.
TEST(Multinomial, CpuAndSimDrawTheSame) {
  for (DType dt : {DType::f32, DType::f64}) {
    manual_seed(5);
    Tensor w = rand({37, 50}, {.dtype = dt}) * (rand({37, 50}, {.dtype = dt}) > 0.2);
    for (bool replacement : {true, false}) {
      const int64_t s = replacement ? 300 : 20;
      manual_seed(99);
      std::vector<int64_t> c = multinomial(w, s, replacement).to_vector<int64_t>();
      manual_seed(99);
      std::vector<int64_t> g =
          w.to(Device::sim()).multinomial(s, replacement).cpu().to_vector<int64_t>();
      EXPECT_EQ(c, g) << dt << " replacement=" << replacement;
      manual_seed(100);
      EXPECT_NE(c, multinomial(w, s, replacement).to_vector<int64_t>());  // the seed matters
    }
  }
}

TEST(Multinomial, BadWeightsAndArgumentsThrowAsTorch) {
  auto w = [](std::vector<double> v) { return from_vector(v, {static_cast<int64_t>(v.size())}); };
  EXPECT_THAT(message_of<ValueError>([&] {
                (void)multinomial(w({1, -1, 2}), 1, true);
              }),
              AllOf(HasSubstr("multinomial"), HasSubstr("element < 0")));
  EXPECT_THAT(message_of<ValueError>([&] {
                (void)multinomial(w({1, kNaN}), 1, true);
              }),
              HasSubstr("nan"));
  EXPECT_THAT(message_of<ValueError>([&] {
                (void)multinomial(w({1, kInf}), 1, true);
              }),
              HasSubstr("inf"));
  EXPECT_THAT(message_of<ValueError>([&] {
                (void)multinomial(from_vector(std::vector<double>{1, 2, 0, 0}, {2, 2}), 1, true);
              }),
              AllOf(HasSubstr("sum of probabilities <= 0"), HasSubstr("row 1")));
  EXPECT_THAT(message_of<ValueError>([&] {
                (void)multinomial(w({1, 2, 3}), 4);
              }),
              AllOf(HasSubstr("without replacement"), HasSubstr("[3]")));
  EXPECT_THAT(message_of<ValueError>([&] {
                (void)multinomial(w({1, 0, 3}), 3);
              }),
              HasSubstr("not enough non-zero categories"));
  EXPECT_THAT(message_of<ValueError>([&] {
                (void)multinomial(w({1, 2}), 0, true);
              }),
              HasSubstr("n_sample <= 0"));
  EXPECT_THAT(message_of<ShapeError>([&] {
                (void)multinomial(ones({2, 2, 2}), 1);
              }),
              AllOf(HasSubstr("1 or 2 dim"), HasSubstr("[2, 2, 2]")));
  EXPECT_THAT(
      message_of<DTypeError>([&] { (void)multinomial(ones({3}, {.dtype = DType::i64}), 1); }),
      HasSubstr("floating"));
  // A drawn category has positive weight: a one-hot row always gives its index.
  EXPECT_EQ(multinomial(w({0, 0, 5, 0}), 6, true).to_vector<int64_t>(),
            (std::vector<int64_t>(6, 2)));
}

}  // namespace
}  // namespace ember
