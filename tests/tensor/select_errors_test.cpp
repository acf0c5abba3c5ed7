// Bad input to the scan, norm, mask and index ops of issue 14 throws the right ember::Error
// naming the op and the shapes or values; and the behaviour the registry cannot express
// (in place writes, autograd through index_put_, cumprod's zeros in double).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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

const TensorOptions kI64{.dtype = DType::i64};

TEST(SelectErrors, ScanDimOutOfRange) {
  Tensor x = zeros({2, 3});
  EXPECT_THAT(message_of<IndexError>([&] { cumsum(x, 2); }), HasSubstr("cumsum"));
  EXPECT_THAT(message_of<IndexError>([&] { cumprod(x, -3); }), HasSubstr("cumprod"));
}

TEST(SelectErrors, VectorNormNeedsFloating) {
  EXPECT_THAT(message_of<DTypeError>([] {
                linalg::vector_norm(zeros({2, 3}, kI64));
              }),
              AllOf(HasSubstr("vector_norm"), HasSubstr("[2, 3]")));
}

TEST(SelectErrors, OneHot) {
  Tensor idx = from_vector(std::vector<int64_t>{0, 3, 1});
  EXPECT_THAT(message_of<IndexError>([&] { nn::functional::one_hot(idx, 3); }),
              HasSubstr("one_hot"));
  Tensor neg = from_vector(std::vector<int64_t>{0, -1});
  EXPECT_THAT(message_of<IndexError>([&] { nn::functional::one_hot(neg, 4); }),
              HasSubstr("one_hot"));
  EXPECT_THAT(message_of<DTypeError>([] { nn::functional::one_hot(zeros({3}), 4); }),
              HasSubstr("one_hot"));
  EXPECT_THAT(message_of<ValueError>([] { nn::functional::one_hot(zeros({0}, kI64)); }),
              HasSubstr("one_hot"));
}

TEST(SelectErrors, MaskedSelect) {
  Tensor x = zeros({3, 4});
  EXPECT_THAT(message_of<DTypeError>([&] {
                masked_select(x, zeros({3, 4}));
              }),
              HasSubstr("masked_select"));
  EXPECT_THAT(message_of<ShapeError>([&] { masked_select(x, zeros({5}, {.dtype = DType::b8})); }),
              AllOf(HasSubstr("masked_select"), HasSubstr("[3, 4]"), HasSubstr("[5]")));
}

TEST(SelectErrors, IndexPut) {
  Tensor x = zeros({5, 4});
  Tensor idx = from_vector(std::vector<int64_t>{0, 5});
  EXPECT_THAT(message_of<IndexError>([&] {
                index_put(x, {idx}, zeros({2, 4}));
              }),
              HasSubstr("index_put"));
  Tensor ok = from_vector(std::vector<int64_t>{0, -5});
  EXPECT_THAT(message_of<ShapeError>([&] {
                index_put(x, {ok}, zeros({3, 4}));
              }),
              AllOf(HasSubstr("index_put"), HasSubstr("[3, 4]"), HasSubstr("[2, 4]")));
  EXPECT_THAT(message_of<DTypeError>([&] {
                index_put(x, {ok}, zeros({2, 4}, kI64));
              }),
              HasSubstr("index_put"));
  EXPECT_THAT(message_of<IndexError>([&] { index_put(x, {zeros({2})}, zeros({4})); }),
              HasSubstr("index_put"));
  Tensor small = from_vector(std::vector<int64_t>{0, 1});
  EXPECT_THAT(message_of<IndexError>([&] {
                index_put(x, {small, small, small}, zeros({2}));
              }),
              HasSubstr("too many indices"));
  Tensor mask = zeros({5, 3}, {.dtype = DType::b8});
  EXPECT_THAT(message_of<IndexError>([&] { index_put(x, {mask}, zeros({1})); }),
              AllOf(HasSubstr("index_put"), HasSubstr("[5, 3]")));
}

TEST(SelectOps, IndexPutInPlaceWritesAndDifferentiates) {
  Tensor base = ones({4, 2}).requires_grad_();
  Tensor x = base * 2.0;
  Tensor v = full({2, 2}, 5.0).requires_grad_();
  Tensor idx = from_vector(std::vector<int64_t>{1, -1});
  x.index_put_({idx}, v);
  EXPECT_TRUE(
      allclose(x.detach(), from_vector(std::vector<float>{2, 2, 5, 5, 2, 2, 5, 5}, {4, 2})));
  (x * from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, {4, 2})).sum().backward();
  // base: 2 g where not written; values: g gathered at the written rows.
  EXPECT_TRUE(
      allclose(base.grad(), from_vector(std::vector<float>{2, 4, 0, 0, 10, 12, 0, 0}, {4, 2})));
  EXPECT_TRUE(allclose(v.grad(), from_vector(std::vector<float>{3, 4, 7, 8}, {2, 2})));
  // A leaf that requires grad cannot be written in place.
  EXPECT_THROW(base.index_put_({idx}, v.detach()), ValueError);
}

TEST(SelectOps, IndexPutRepeatedTargetKeepsTheLastValue) {
  Tensor idx = from_vector(std::vector<int64_t>{2, 0, 2});
  Tensor v = from_vector(std::vector<float>{1, 2, 3});
  Tensor y = index_put(zeros({3}), {idx}, v);
  EXPECT_TRUE(allclose(y, from_vector(std::vector<float>{2, 0, 3})));
  Tensor acc = index_put(zeros({3}), {idx}, v, true);
  EXPECT_TRUE(allclose(acc, from_vector(std::vector<float>{2, 0, 4})));
}

TEST(SelectOps, CumprodGradientThroughTwoZeros) {
  // Row (2, 0, 3, 0, 5), by hand: d sum(cumprod) / dx_0 = 1 (later products hold x_1 = 0);
  // the first zero's = 2 (1 + 3 + 0 + 0) = 8; the rest hold x_1, so 0.
  Tensor x = from_vector(std::vector<double>{2, 0, 3, 0, 5}).requires_grad_();
  cumprod(x, 0).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), from_vector(std::vector<double>{1, 8, 0, 0, 0})));
}

TEST(SelectOps, LogsumexpOfMinusInfinityRows) {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = from_vector(std::vector<double>{-inf, -inf, 0.0, 0.0}, {2, 2});
  std::vector<double> y = logsumexp(x, {1}).to_vector<double>();
  EXPECT_EQ(y[0], -inf);
  EXPECT_NEAR(y[1], std::log(2.0), 1e-15);
}

}  // namespace
}  // namespace ember
