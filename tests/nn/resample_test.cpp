// Padding, reordering and resampling: the errors the registry cannot express, a few
// hand-computed values, and the Upsample and Dropout2d modules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using ::testing::HasSubstr;

Tensor row(std::vector<double> v) { return from_vector(v).reshape({1, -1}); }

// Runs f, expecting an ember::Error whose message holds every piece.
template <typename F>
void expect_error(F f, const std::vector<std::string>& pieces) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const std::string& p : pieces) EXPECT_THAT(e.what(), HasSubstr(p));
  }
}

TEST(Pad, ModesOnKnownValues) {
  Tensor x = row({1, 2, 3});  // (1, 3)
  using V = std::vector<double>;
  EXPECT_EQ(F::pad(x, {2, 1}, "reflect").to_vector<double>(), (V{3, 2, 1, 2, 3, 2}));
  EXPECT_EQ(F::pad(x, {2, 1}, "replicate").to_vector<double>(), (V{1, 1, 1, 2, 3, 3}));
  EXPECT_EQ(F::pad(x, {2, 3}, "circular").to_vector<double>(), (V{2, 3, 1, 2, 3, 1, 2, 3}));
  EXPECT_EQ(F::pad(x, {1, -1}, "constant", 7).to_vector<double>(), (V{7, 1, 2}));
  EXPECT_EQ(F::pad(x, {0, 0, 1, 0}).sizes(), (Shape{2, 3}));
}

TEST(Pad, BackwardSumsIntoTheSource) {
  Tensor x = row({1, 2, 3}).requires_grad_();
  F::pad(x, {2, 2}, "replicate").sum().backward();  // edges are read 3 times
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 1, 3}));
}

TEST(Pad, Errors) {
  Tensor x = randn({2, 3, 4});
  expect_error([&] { F::pad(x, {1, 2, 3}); }, {"pad", "even"});
  expect_error([&] { F::pad(x, {1, 1, 1, 1, 1, 1, 1, 1}); }, {"pad", "[2, 3, 4]"});
  expect_error([&] { F::pad(x, {4, 0}, "reflect"); }, {"pad", "reflect", "[2, 3, 4]"});
  expect_error([&] { F::pad(x, {-3, -2}); }, {"pad", "negative", "[2, 3, 4]"});
  expect_error([&] { F::pad(x, {5, 0}, "circular"); }, {"pad", "circular"});
  expect_error([&] { F::pad(x, {1, 1}, "wrap"); }, {"pad", "mode"});
  expect_error([&] { F::pad(randn({4}), {1, 1}, "reflect"); }, {"pad", "[4]"});
}

TEST(Reorder, Errors) {
  Tensor x = randn({2, 3});
  expect_error([&] { flip(x, {0, -2}); }, {"flip", "twice"});
  expect_error([&] { roll(x, {1, 2}, {0}); }, {"roll", "same length"});
  expect_error([&] { roll(x, {1, 2}); }, {"roll", "one value"});
  expect_error([&] { repeat(x, {2}); }, {"repeat", "[2, 3]"});
  expect_error([&] { repeat_interleave(x, -1); }, {"repeat_interleave", "negative"});
  expect_error(
      [&] {
        repeat_interleave(x, from_vector(std::vector<int64_t>{1, 2}), 1);
      },
      {"repeat_interleave", "[2, 3]"});
  expect_error(
      [&] {
        repeat_interleave(x, from_vector(std::vector<double>{1, 2}), 0);
      },
      {"repeat_interleave", "i64"});
}

TEST(Interpolate, Errors) {
  using O = F::InterpolateOptions;
  Tensor x = randn({1, 2, 3});
  expect_error([&] { F::interpolate(x, O{.size = {4}, .scale_factor = {2.0}}); },
               {"interpolate", "exactly one"});
  expect_error([&] { F::interpolate(x, O{.size = {4}, .mode = "bilinear"}); },
               {"interpolate", "[1, 2, 3]"});
  expect_error([&] { F::interpolate(x, O{.size = {4}, .align_corners = true}); },
               {"interpolate", "align_corners"});
  expect_error([&] { F::interpolate(x, O{.size = {4, 5}}); }, {"interpolate", "[1, 2, 3]"});
  expect_error([&] { F::interpolate(x, O{.mode = "bicubic"}); }, {"interpolate", "bicubic"});
}

TEST(Interpolate, BilinearAlignCornersKeepsTheCorners) {
  Tensor x = randn({1, 1, 3, 4}, {.dtype = DType::f64});
  Tensor y = F::interpolate(x, {.size = {7, 9}, .mode = "bilinear", .align_corners = true});
  for (auto [h, w, sh, sw] : std::vector<std::array<int64_t, 4>>{{0, 0, 0, 0}, {6, 8, 2, 3}})
    EXPECT_NEAR(y.select(2, h).select(2, w).item<double>(),
                x.select(2, sh).select(2, sw).item<double>(), 1e-12);
}

// The recorded backward nodes differentiate again (multiplying by a sum of the input
// makes the gradient depend on g and x, so the check reaches the backward's own rule).
TEST(Resample, DoubleBackward) {
  TensorOptions f64{.dtype = DType::f64};
  using autograd::TensorList;
  auto up = [](const TensorList& t) {
    F::InterpolateOptions o{.size = {5, 3}, .mode = "bilinear"};
    return TensorList{F::interpolate(t[0], o) * t[0].sum()};
  };
  auto r = autograd::gradgradcheck(up, {randn({1, 2, 3, 4}, f64).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
  auto pads = [](const TensorList& t) {
    return TensorList{(F::pad(t[0], {1, -1, 2, 0}, "constant", 0.5) +
                       F::pad(t[0], {2, 1}, "reflect").slice(2, 1, 4)) *  // (2, 3, 3)
                      t[0].sum()};
  };
  r = autograd::gradgradcheck(pads, {randn({2, 1, 3}, f64).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Upsample, IsInterpolateWithFixedOptions) {
  auto up = Upsample::make(F::InterpolateOptions{.scale_factor = {2.0}, .mode = "bilinear"});
  Tensor x = randn({2, 3, 4, 5});
  Tensor want = F::interpolate(x, {.scale_factor = {2.0}, .mode = "bilinear"});
  EXPECT_TRUE(equal((*up)(x), want));
  EXPECT_EQ((*up)(x).sizes(), (Shape{2, 3, 8, 10}));
  EXPECT_EQ(up->extra_repr(), "scale_factor=2, mode='bilinear'");
  EXPECT_THROW(Upsample::make(F::InterpolateOptions{}), Error);
}

TEST(Dropout2d, ZeroesWholeChannelsAndScalesTheRest) {
  manual_seed(3);
  auto drop = Dropout2d::make(0.25);
  Tensor x = rand({16, 64, 3, 5}) + 1.0;  // no zeros of its own
  Tensor y = (*drop)(x);
  Tensor ratio = (y / x).reshape({16 * 64, 15});  // per channel: all 0 or all 4/3
  std::vector<double> r = ratio.to(DType::f64).to_vector<double>();
  int64_t dropped = 0;
  for (int64_t c = 0; c < 16 * 64; ++c) {
    double first = r[static_cast<size_t>(c * 15)];
    EXPECT_TRUE(first == 0.0 || std::abs(first - 4.0 / 3.0) < 1e-6) << first;
    for (int64_t i = 1; i < 15; ++i) EXPECT_NEAR(r[static_cast<size_t>(c * 15 + i)], first, 1e-6);
    dropped += first == 0.0;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / (16 * 64), 0.25, 0.05);
  drop->eval();
  EXPECT_TRUE(equal((*drop)(x), x));
  drop->train();
  Tensor u = randn({3, 4, 4}).requires_grad_();  // unbatched (C, H, W)
  Tensor v = (*drop)(u);
  v.sum().backward();
  EXPECT_TRUE(allclose(u.grad() * u, v));  // the gradient is the channel's scale
  EXPECT_THROW((*drop)(randn({2, 3})), ShapeError);
  EXPECT_THROW(Dropout2d::make(1.5), ValueError);
}

}  // namespace
}  // namespace ember::nn
