// Pooling and convolution-variant modules and functional forms: what the op registry cannot
// express (bad arguments and their messages, module state and repr, the adjoint identity,
// the gradient of tied maxima). The kernels themselves are tested by the registry's
// pool2d and conv_transpose2d / conv1d cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using ::testing::HasSubstr;

TensorOptions f64() { return {.dtype = DType::f64}; }

// The message of the ember::Error that f throws, of type E.
template <typename E, typename Fn>
std::string error_of(Fn f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception: ") + e.what();
  }
  return "no exception";
}

TEST(PoolErrors, KernelLargerThanThePaddedInputNamesOpAndShape) {
  Tensor x = randn({1, 2, 3, 3});
  std::string m = error_of<ShapeError>([&] { F::max_pool2d(x, 6, {.padding = 1}); });
  EXPECT_THAT(m, HasSubstr("max_pool2d"));
  EXPECT_THAT(m, HasSubstr(str(x.sizes())));
  m = error_of<ShapeError>([&] { F::avg_pool2d(x, 4); });
  EXPECT_THAT(m, HasSubstr("avg_pool2d"));
  EXPECT_THAT(m, HasSubstr(str(x.sizes())));
}

TEST(PoolErrors, PaddingOverHalfTheKernelAndBadArguments) {
  Tensor x = randn({1, 2, 8, 8});
  std::string m = error_of<ValueError>([&] { F::max_pool2d(x, 3, {.padding = 2}); });
  EXPECT_THAT(m, HasSubstr("max_pool2d"));
  EXPECT_THAT(m, HasSubstr("half of the kernel"));
  EXPECT_THAT(error_of<ValueError>([&] {
                F::avg_pool2d(x, 2, {.padding = {0, 2}});
              }),
              HasSubstr("avg_pool2d"));
  EXPECT_THROW(F::max_pool2d(x, 2, {.stride = 0}), ValueError);
  EXPECT_THROW(F::max_pool2d(x, 2, {.dilation = 0}), ValueError);
  EXPECT_THROW(F::avg_pool2d(x, 2, {.divisor_override = 0}), ValueError);
  EXPECT_THROW(F::max_pool2d(randn({8, 8}), 2), ShapeError);
  EXPECT_THROW(F::max_pool2d(randn({1, 0, 8, 8}), 2), ShapeError);
  EXPECT_THROW(F::max_pool2d(ones({1, 1, 4, 4}, {.dtype = DType::i64}), 2), DTypeError);
  EXPECT_THROW(F::adaptive_avg_pool2d(x, {-1, 2}), ValueError);
}

TEST(PoolSemantics, GradientOfTiedMaximaGoesToTheFirstInWindowOrder) {
  // One 3x3 window of equal values: torch sends the whole gradient to (0, 0).
  Tensor x = ones({1, 1, 3, 3}, f64()).requires_grad_();
  auto [y, idx] = F::max_pool2d_with_indices(x, 3);
  EXPECT_EQ(idx.item<int64_t>(), 0);
  y.sum().backward();
  std::vector<double> g = x.grad().to_vector<double>();
  EXPECT_EQ(g[0], 1.0);
  for (size_t i = 1; i < g.size(); ++i) EXPECT_EQ(g[i], 0.0) << i;
}

TEST(PoolSemantics, CeilModeDropsAWindowThatWouldStartInThePadding) {
  // H = 7, k = 2, s = 2, p = 1: ceil((7 + 2 - 2) / 2) + 1 = 5 windows, but the 5th would
  // start at 8 - 1 = 7 >= H: torch keeps 4.
  EXPECT_EQ(F::max_pool2d(randn({1, 1, 7, 7}), 2, {.padding = 1, .ceil_mode = true}).sizes(),
            (Shape{1, 1, 4, 4}));
  EXPECT_EQ(F::max_pool2d(randn({1, 1, 8, 8}), 3, {.stride = 2, .ceil_mode = true}).sizes(),
            (Shape{1, 1, 4, 4}));
  EXPECT_EQ(F::max_pool2d(randn({1, 1, 8, 8}), 3, {.stride = 2}).sizes(), (Shape{1, 1, 3, 3}));
}

TEST(PoolSemantics, GlobalAveragePoolingIsTheMean) {
  Tensor x = randn({2, 3, 5, 7}, f64());
  Tensor y = AdaptiveAvgPool2d::make(1)->forward(x);
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 1, 1}));
  EXPECT_TRUE(allclose(y.flatten(1), x.mean({2, 3}), 1e-12, 1e-12));
}

TEST(PoolModules, HaveNoStateAndPrintAsTorch) {
  auto mp = MaxPool2d::make(3, {.stride = 2, .padding = 1});
  EXPECT_EQ(mp->state_dict().size(), 0u);
  EXPECT_EQ(mp->extra_repr(), "kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False");
  EXPECT_EQ(MaxPool2d::make(2)->extra_repr(),
            "kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False");
  EXPECT_EQ(AvgPool2d::make(Pair2{2, 3})->extra_repr(),
            "kernel_size=(2, 3), stride=(2, 3), padding=0");
  EXPECT_EQ(AdaptiveAvgPool2d::make(Pair2{2, 3})->extra_repr(), "output_size=(2, 3)");
  EXPECT_EQ(AdaptiveMaxPool2d::make(1)->extra_repr(), "output_size=1");
  Tensor x = randn({2, 3, 8, 8});
  EXPECT_EQ((*mp)(x).sizes(), (Shape{2, 3, 4, 4}));
  auto [v, i] = AdaptiveMaxPool2d::make(Pair2{3, 2})->forward_with_indices(x);
  EXPECT_EQ(v.sizes(), (Shape{2, 3, 3, 2}));
  EXPECT_EQ(i.dtype(), DType::i64);
}

TEST(PoolModules, GoIntoSequential) {
  auto seq = Sequential::make(
      {Conv2d::make(1, 4, 3, {.padding = 1}), MaxPool2d::make(2), AdaptiveAvgPool2d::make(1)});
  EXPECT_EQ(seq->forward(randn({2, 1, 8, 8})).sizes(), (Shape{2, 4, 1, 1}));
}

TEST(ConvTranspose2dModule, WeightLayoutInitAndRepr) {
  manual_seed(3);
  auto ct =
      ConvTranspose2d::make(4, 6, 3, {.stride = 2, .padding = 1, .output_padding = 1, .groups = 2});
  StateDict sd = ct->state_dict();
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd.at("weight").sizes(), (Shape{4, 3, 3, 3}));  // (in, out/groups, kh, kw)
  EXPECT_EQ(sd.at("bias").sizes(), (Shape{6}));
  const double bound = 1.0 / std::sqrt(3.0 * 9.0);  // fan_in = weight.size(1) kh kw
  for (double v : ct->weight.to_vector<double>()) EXPECT_LE(std::fabs(v), bound);
  for (double v : ct->bias.to_vector<double>()) EXPECT_LE(std::fabs(v), bound);
  EXPECT_EQ(ct->extra_repr(),
            "4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), "
            "groups=2");
  // (H - 1) s - 2 p + (k - 1) + output_padding + 1 = 4 2 - 2 + 2 + 1 + 1 = 10
  EXPECT_EQ(ct->forward(randn({2, 4, 5, 5})).sizes(), (Shape{2, 6, 10, 10}));
  EXPECT_EQ(ct->forward(randn({4, 5, 5})).sizes(), (Shape{6, 10, 10}));
  EXPECT_FALSE(ConvTranspose2d::make(2, 2, 1, {.bias = false})->state_dict().contains("bias"));
}

TEST(ConvTranspose2d, IsTheAdjointOfConv2d) {
  // <conv2d(y, w), x> = <y, conv_transpose2d(x, w)> for y of the transposed output's shape.
  const Conv2dParams p{.stride_h = 2, .stride_w = 3, .pad_h = 1, .pad_w = 0, .groups = 1};
  Tensor w = randn({3, 2, 3, 2}, f64());  // conv2d: (out 3, in 2); transposed: (in 3, out 2)
  Tensor x = randn({2, 3, 4, 5}, f64());
  Tensor t = conv_transpose2d(x, w, Tensor(), p, 1, 2);
  Tensor y = randn(t.sizes(), f64());
  const double lhs = (conv2d(y, w, Tensor(), p) * x).sum().item<double>();
  const double rhs = (y * t).sum().item<double>();
  EXPECT_NEAR(lhs, rhs, 1e-9 * (1 + std::fabs(rhs)));
}

TEST(ConvTranspose2d, BadArgumentsNameTheOpAndShapes) {
  Tensor x = randn({1, 4, 5, 5});
  std::string m = error_of<ShapeError>([&] { conv_transpose2d(x, randn({3, 2, 3, 3})); });
  EXPECT_THAT(m, HasSubstr("conv_transpose2d"));
  EXPECT_THAT(m, HasSubstr(str(x.sizes())));
  const Conv2dParams s2{.stride_h = 2, .stride_w = 2};
  m = error_of<ValueError>([&] { conv_transpose2d(x, randn({4, 2, 3, 3}), Tensor(), s2, 2, 0); });
  EXPECT_THAT(m, HasSubstr("output_padding"));
  EXPECT_THROW(conv_transpose2d(x, randn({4, 2, 3, 3}), randn({3})), ShapeError);
  EXPECT_THROW(ConvTranspose2d::make(4, 3, 3, {.groups = 2}), ValueError);
}

TEST(Conv1dModule, WeightLayoutShapesAndErrors) {
  auto c = Conv1d::make(4, 6, 3, {.stride = 2, .padding = 1, .groups = 2, .bias = false});
  StateDict sd = c->state_dict();
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd.at("weight").sizes(), (Shape{6, 2, 3}));
  EXPECT_EQ(c->extra_repr(),
            "4, 6, kernel_size=(3,), stride=(2,), padding=(1,), groups=2, bias=False");
  EXPECT_EQ(c->forward(randn({2, 4, 9})).sizes(), (Shape{2, 6, 5}));
  EXPECT_EQ(c->forward(randn({4, 9})).sizes(), (Shape{6, 5}));
  EXPECT_THAT(error_of<ShapeError>([&] {
                F::conv1d(randn({2, 4, 9, 1}), c->weight);
              }),
              HasSubstr("conv1d"));
  EXPECT_THROW(c->forward(randn({2, 3, 9})), ShapeError);
}

TEST(Conv2dPaddingOptions, SameKeepsTheSizeWithTheExtraZeroAtTheEnd) {
  manual_seed(4);
  auto c = Conv2d::make(2, 3, Pair2{3, 4}, {.padding = "same", .dilation = {2, 1}});
  c->to(DType::f64);
  Tensor x = randn({2, 2, 7, 6}, f64());
  Tensor y = c->forward(x);
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 7, 6}));
  // Width: total 3 -> 1 left, 2 right; symmetric padding 2 starts one column earlier.
  // Height: dilation 2, total 4 -> 2 and 2.
  Tensor sym = conv2d(x, c->weight, c->bias, {.pad_h = 2, .pad_w = 2, .dilation_h = 2});
  EXPECT_TRUE(allclose(y, sym.narrow(3, 1, 6), 1e-12, 1e-12));
  EXPECT_EQ(c->extra_repr(),
            "2, 3, kernel_size=(3, 4), stride=(1, 1), padding=same, dilation=(2, 1)");
  EXPECT_EQ(Conv2d::make(2, 3, 3, {.padding = "valid"})->forward(randn({1, 2, 5, 5})).sizes(),
            (Shape{1, 3, 3, 3}));
  EXPECT_THROW(Conv2d::make(2, 3, 3, {.stride = 2, .padding = "same"}), ValueError);
  EXPECT_THROW(Conv2d::make(2, 3, 3, {.padding = "full"}), ValueError);
  EXPECT_THROW(Conv2d::make(2, 3, 3, {.padding_mode = "mirror"}), ValueError);
}

// A 1x1 identity convolution with padding 1 returns the padded input itself.
std::vector<double> padded_by_module(const std::string& mode, const Tensor& x) {
  auto c = Conv2d::make(1, 1, 1, {.padding = 1, .bias = false, .padding_mode = mode});
  c->to(DType::f64);
  {
    NoGradGuard no_grad;
    c->weight.fill_(1.0);
  }
  return c->forward(x).to_vector<double>();
}

TEST(Conv2dPaddingOptions, PaddingModesPadAsTorch) {
  const int64_t H = 3, W = 4;
  Tensor x = arange(H * W, f64()).reshape({1, 1, H, W});
  auto expect = [&](const std::string& mode, auto source) {
    std::vector<double> want;
    for (int64_t i = -1; i <= H; ++i)
      for (int64_t j = -1; j <= W; ++j) {
        const int64_t si = source(i, H), sj = source(j, W);
        want.push_back(si < 0 || sj < 0 ? 0.0 : static_cast<double>(si * W + sj));
      }
    EXPECT_EQ(padded_by_module(mode, x), want) << mode;
  };
  expect("zeros", [](int64_t j, int64_t n) { return j < 0 || j >= n ? -1 : j; });
  expect("reflect", [](int64_t j, int64_t n) { return j < 0 ? -j : j >= n ? 2 * n - 2 - j : j; });
  expect("replicate", [](int64_t j, int64_t n) { return j < 0 ? 0 : j >= n ? n - 1 : j; });
  expect("circular", [](int64_t j, int64_t n) { return (j + n) % n; });
  auto c = Conv2d::make(1, 2, 3, {.padding_mode = "reflect"});
  EXPECT_EQ(c->extra_repr(), "1, 2, kernel_size=(3, 3), stride=(1, 1), padding_mode=reflect");
  EXPECT_THROW(Conv2d::make(1, 1, 3, {.padding = 3, .padding_mode = "reflect"})
                   ->forward(randn({1, 1, 3, 3})),
               ValueError);
}

TEST(Conv2dPaddingOptions, CircularPaddedConvolutionGradcheck) {
  manual_seed(5);
  auto c = Conv2d::make(2, 2, 3, {.padding = {1, 2}, .padding_mode = "circular"});
  c->to(DType::f64);
  Tensor x = randn({1, 2, 4, 5}, f64()).requires_grad_();
  auto r = autograd::gradcheck(
      [&](const autograd::TensorList& t) { return autograd::TensorList{c->forward(t[0])}; }, {x});
  EXPECT_TRUE(r.ok) << r.message;
}

}  // namespace
}  // namespace ember::nn
