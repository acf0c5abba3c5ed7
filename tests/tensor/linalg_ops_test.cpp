// einsum, addmm, baddbmm, outer, normalize and cosine_similarity (issue 15): the errors
// each names (op, equation, shapes), and the torch behaviour the registry's f64
// comparisons do not show (implicit output order, gradients equal to matmul's, beta = 0
// ignoring NaN, zero vectors staying finite).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace ember {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
namespace F = nn::functional;

template <typename E, typename Fn>
std::string message_of(Fn&& f) {
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

TEST(Einsum, DiagonalIsRejectedNamingTheSubscript) {
  Tensor x = randn({3, 3});
  EXPECT_THAT(message_of<ValueError>([&] { einsum("ii->i", {x}); }),
              AllOf(HasSubstr("einsum"), HasSubstr("repeated subscript 'i' in operand 0"),
                    HasSubstr("diagonal"), HasSubstr("ii->i")));
  EXPECT_THAT(message_of<ValueError>([&] {
                einsum("ij,jj->i", {x, x});
              }),
              HasSubstr("repeated subscript 'j' in operand 1"));
}

TEST(Einsum, OperandCountRankAndSizeMismatches) {
  Tensor a = randn({2, 3}), b = randn({4, 5});
  EXPECT_THAT(message_of<ValueError>([&] { einsum("ij,jk->ik", {a}); }),
              AllOf(HasSubstr("einsum"), HasSubstr("2 operand(s) but 1")));
  EXPECT_THAT(message_of<ShapeError>([&] { einsum("ijk->i", {a}); }),
              AllOf(HasSubstr("operand 0 has shape [2, 3]"), HasSubstr("\"ijk\" name 3")));
  EXPECT_THAT(message_of<ShapeError>([&] {
                einsum("ij,jk->ik", {a, b});
              }),
              AllOf(HasSubstr("subscript 'j' has size 3 in operand 0"), HasSubstr("[2, 3]"),
                    HasSubstr("4 in operand 1"), HasSubstr("[4, 5]")));
  EXPECT_THAT(message_of<ValueError>([&] { einsum("ij->k", {a}); }),
              HasSubstr("output subscript 'k' does not appear"));
  EXPECT_THAT(message_of<ValueError>([&] { einsum("ij->ii", {a}); }),
              HasSubstr("output subscript 'i' appears more than once"));
  EXPECT_THAT(message_of<ValueError>([&] { einsum("i1->i", {a}); }),
              HasSubstr("invalid subscript '1'"));
}

TEST(Einsum, ImplicitOutputIsAlphabeticalAsTorch) {
  Tensor x = randn({3, 4}), y = randn({4, 5});
  EXPECT_TRUE(equal(einsum("ba", {x}), x.transpose(0, 1).contiguous()));
  EXPECT_TRUE(allclose(einsum("ij,jk", {x, y}), matmul(x, y)));
  EXPECT_EQ(einsum("ij,jk", {x, y}).sizes(), (Shape{3, 5}));
  // Upper-case letters sort before lower-case ones, as in torch.
  EXPECT_EQ(einsum("aB", {x}).sizes(), (Shape{4, 3}));
}

TEST(Einsum, GradientsEqualMatmulsGradients) {
  Tensor a = randn({2, 3, 4}).requires_grad_(), b = randn({2, 4, 5}).requires_grad_();
  Tensor g = randn({2, 3, 5});
  einsum("bij,bjk->bik", {a, b}).backward(g);
  Tensor ga = a.grad(), gb = b.grad();
  Tensor a2 = a.detach().requires_grad_(), b2 = b.detach().requires_grad_();
  matmul(a2, b2).backward(g);
  EXPECT_TRUE(allclose(ga, a2.grad(), 1e-5, 1e-6));
  EXPECT_TRUE(allclose(gb, b2.grad(), 1e-5, 1e-6));
}

TEST(Addmm, BetaZeroIgnoresNanAndShapesAreChecked) {
  Tensor input = full({2, 3}, std::nan(""));
  Tensor m1 = randn({2, 4}), m2 = randn({4, 3});
  Tensor y = addmm(input, m1, m2, 0, 2);
  EXPECT_TRUE(allclose(y, matmul(m1, m2) * 2.0));
  Tensor b1 = randn({5, 2, 4}), b2 = randn({5, 4, 3});
  EXPECT_TRUE(allclose(baddbmm(full({5, 2, 3}, std::nan("")), b1, b2, 0), matmul(b1, b2)));
  EXPECT_THAT(message_of<ShapeError>([&] {
                addmm(zeros({3, 1, 1}), m1, m2);
              }),
              AllOf(HasSubstr("addmm"), HasSubstr("[3, 1, 1]"), HasSubstr("[2, 3]")));
  EXPECT_THAT(message_of<ShapeError>([&] {
                addmm(zeros({2, 3}), m1, m1);
              }),
              AllOf(HasSubstr("addmm"), HasSubstr("[2, 4]")));
  EXPECT_THAT(message_of<ShapeError>([&] {
                baddbmm(zeros({2, 3}), m1, m2);
              }),
              AllOf(HasSubstr("baddbmm"), HasSubstr("(b, n, m)")));
  EXPECT_THAT(message_of<ShapeError>([&] { outer(m1, m2); }),
              AllOf(HasSubstr("outer"), HasSubstr("1-D"), HasSubstr("[2, 4]")));
}

TEST(CosineSimilarity, ZeroVectorIsFiniteAndBroadcasts) {
  Tensor x = from_vector<float>({1, 2, 3, 0, 0, 0}, {2, 3});
  Tensor y = from_vector<float>({2, 4, 6}, {1, 3});
  std::vector<float> c = F::cosine_similarity(x, y).to_vector<float>();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_NEAR(c[0], 1.0f, 1e-6f);  // parallel
  EXPECT_EQ(c[1], 0.0f);           // a zero vector: 0, not NaN
  std::vector<float> n = F::normalize(x).to_vector<float>();
  EXPECT_NEAR(n[0], 1.0f / std::sqrt(14.0f), 1e-6f);
  EXPECT_EQ(n[3], 0.0f);
  EXPECT_THAT(message_of<ShapeError>([&] { F::cosine_similarity(x, zeros({4})); }),
              HasSubstr("cosine_similarity"));
}

TEST(Triangle, KeepsTheDtypeOfBoolAndIntegerInputs) {
  // A bool mask stays bool (an i64 result once turned MultiheadAttention's causal mask into
  // +1 instead of -inf); integers stay integers; values as torch.triu / torch.tril.
  for (Device d : {Device::cpu(), Device::sim()}) {
    const Tensor b = ones({3, 4}, {.dtype = DType::b8, .device = d});
    const Tensor u = triu(b, 1);
    ASSERT_EQ(u.dtype(), DType::b8);
    const Tensor l = tril(b, -1);
    ASSERT_EQ(l.dtype(), DType::b8);
    const Tensor i = triu(arange(12, {.dtype = DType::i64, .device = d}).reshape({3, 4}));
    ASSERT_EQ(i.dtype(), DType::i64);
    const std::vector<int64_t> uh = u.to(DType::i64).to_vector<int64_t>();
    const std::vector<int64_t> lh = l.to(DType::i64).to_vector<int64_t>();
    const std::vector<int64_t> ih = i.to_vector<int64_t>();
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 4; ++c) {
        const size_t at = static_cast<size_t>(r * 4 + c);
        EXPECT_EQ(uh[at], c - r >= 1 ? 1 : 0) << r << "," << c;
        EXPECT_EQ(lh[at], c - r <= -1 ? 1 : 0) << r << "," << c;
        EXPECT_EQ(ih[at], c >= r ? r * 4 + c : 0) << r << "," << c;
      }
  }
}

}  // namespace
}  // namespace ember
