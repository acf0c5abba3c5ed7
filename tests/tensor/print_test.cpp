// Printing matches PyTorch's repr (torch/_tensor_str.py with default print options:
// precision 4, threshold 1000, edgeitems 3, linewidth 80), with ember's dtype names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "ember/ember.h"

namespace ember {
namespace {

std::string streamed(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

TEST(Print, FloatMatrixWithIntegerValues) {
  Tensor t = from_vector<float>({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(t.to_string(), "tensor([[1., 2.],\n        [3., 4.]])");
  EXPECT_EQ(streamed(t), t.to_string());
}

TEST(Print, Int64AndBool) {
  EXPECT_EQ(from_vector<int64_t>({1, 2, 3}).to_string(), "tensor([1, 2, 3])");
  EXPECT_EQ(from_vector<int64_t>({1, 2, 3, 4}, {2, 2}).to_string(),
            "tensor([[1, 2],\n        [3, 4]])");
  EXPECT_EQ(from_vector<int64_t>({-5, 10}).to_string(), "tensor([-5, 10])");
  EXPECT_EQ(from_vector<bool>({true, false}).to_string(), "tensor([ True, False])");
  EXPECT_EQ(from_vector<bool>({true, true}).to_string(), "tensor([True, True])");
}

TEST(Print, ZeroDim) {
  EXPECT_EQ(scalar_tensor(3.5).to_string(), "tensor(3.5000)");
  EXPECT_EQ(scalar_tensor(int64_t{3}).to_string(), "tensor(3)");
  EXPECT_EQ(scalar_tensor(2.0).to_string(), "tensor(2.)");
  EXPECT_EQ(scalar_tensor(3.5, {.dtype = DType::f64}).to_string(), "tensor(3.5000, dtype=f64)");
}

TEST(Print, NonIntegerFloats) {
  EXPECT_EQ(from_vector<float>({1.5f, 2.25f}).to_string(), "tensor([1.5000, 2.2500])");
  EXPECT_EQ(from_vector<float>({-1.5f, 2.25f}).to_string(), "tensor([-1.5000,  2.2500])");
  EXPECT_EQ(from_vector<float>({0.001f, 0.5f}).to_string(), "tensor([0.0010, 0.5000])");
  EXPECT_EQ(from_vector<float>({-1.f, 2.f}).to_string(), "tensor([-1.,  2.])");
  EXPECT_EQ(from_vector<float>({100.f, 2.f}).to_string(), "tensor([100.,   2.])");
}

TEST(Print, ScientificWhenTheRangeIsWide) {
  EXPECT_EQ(from_vector<float>({1e-5f, 1e3f}).to_string(), "tensor([1.0000e-05, 1.0000e+03])");
  EXPECT_EQ(from_vector<float>({1.f, 1e6f}).to_string(), "tensor([1.0000e+00, 1.0000e+06])");
  EXPECT_EQ(from_vector<float>({1e-5f, 2e-5f}).to_string(), "tensor([1.0000e-05, 2.0000e-05])");
}

TEST(Print, NonFiniteValues) {
  float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(from_vector<float>({1.5f, nan, inf}).to_string(), "tensor([1.5000,    nan,    inf])");
}

TEST(Print, DTypeSuffix) {
  EXPECT_EQ(from_vector<double>({1, 2}).to_string(), "tensor([1., 2.], dtype=f64)");
  EXPECT_EQ(from_vector<float>({1, 2}).to_string(), "tensor([1., 2.])");
}

TEST(Print, Empty) {
  EXPECT_EQ(zeros({0, 3}).to_string(), "tensor([], size=(0, 3))");
  EXPECT_EQ(zeros({0}).to_string(), "tensor([])");
  // With no elements to show, a non-float dtype is spelled out (as PyTorch does).
  EXPECT_EQ(zeros({0}, {.dtype = DType::i64}).to_string(), "tensor([], dtype=i64)");
}

TEST(Print, ThreeDims) {
  EXPECT_EQ(from_vector<float>({1, 2, 3, 4}, {2, 1, 2}).to_string(),
            "tensor([[[1., 2.]],\n\n        [[3., 4.]]])");
}

TEST(Print, LongRowsWrapAtEightyColumns) {
  EXPECT_EQ(arange(30).to_string(),
            "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
            "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29])");
}

TEST(Print, SummarizesMoreThanAThousandElements) {
  EXPECT_EQ(arange(2000).to_string(), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  EXPECT_EQ(arange(2000).view({2, 1000}).to_string(),
            "tensor([[   0,    1,    2,  ...,  997,  998,  999],\n"
            "        [1000, 1001, 1002,  ..., 1997, 1998, 1999]])");
  EXPECT_EQ(arange(2000).view({1000, 2}).to_string(),
            "tensor([[   0,    1],\n"
            "        [   2,    3],\n"
            "        [   4,    5],\n"
            "        ...,\n"
            "        [1994, 1995],\n"
            "        [1996, 1997],\n"
            "        [1998, 1999]])");
  // Exactly the threshold is not summarized.
  EXPECT_EQ(arange(1000).to_string().find("..."), std::string::npos);
}

TEST(Print, RequiresGradSuffix) {
  Tensor t = from_vector<float>({1, 2});
  t.requires_grad_();
  EXPECT_EQ(t.to_string(), "tensor([1., 2.], requires_grad=True)");
}

TEST(Print, ViewsPrintTheirOwnElements) {
  Tensor t = from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.t().to_string(), "tensor([[1, 4],\n        [2, 5],\n        [3, 6]])");
  EXPECT_EQ(t.slice(1, 0, 3, 2).to_string(), "tensor([[1, 3],\n        [4, 6]])");
}

}  // namespace
}  // namespace ember
