// RMSNorm (issue 15): the module semantics the registry cases cannot express: torch's
// keys, defaults and repr, eps=None as the dtype's machine epsilon, the affine-free form,
// errors naming the op and the shapes, and the create_graph gradients differentiated again.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using autograd::gradgradcheck;
using autograd::TensorList;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TensorOptions f64() { return {.dtype = DType::f64}; }

TEST(RMSNorm, KeysDefaultsAndRepr) {
  auto norm = RMSNorm::make({2, 3});
  EXPECT_THAT(norm->state_dict().keys(), ElementsAre("weight"));
  EXPECT_EQ(norm->weight.sizes(), (Shape{2, 3}));
  for (double v : norm->weight.to_vector<double>()) EXPECT_EQ(v, 1.0);
  EXPECT_FALSE(norm->eps.has_value());
  EXPECT_EQ(norm->extra_repr(), "(2, 3), eps=None, elementwise_affine=True");
  auto plain = RMSNorm::make({4}, 1e-5, false);
  EXPECT_TRUE(plain->parameters().empty());
  EXPECT_EQ(plain->extra_repr(), "(4,), eps=1e-05, elementwise_affine=False");
}

// eps=None is torch.finfo(dtype).eps: visible on a row of zeros plus one tiny value,
// where eps dominates mean(x^2).
TEST(RMSNorm, DefaultEpsIsTheDtypeEpsilon) {
  for (DType dt : {DType::f32, DType::f64}) {
    const double eps = dt == DType::f64 ? std::numeric_limits<double>::epsilon()
                                        : std::numeric_limits<float>::epsilon();
    const double v = 1e-4;
    Tensor x = from_vector<double>({v, 0.0}, {1, 2}).to(dt);
    std::vector<double> y = F::rms_norm(x, {2}).to_vector<double>();
    const double want = v / std::sqrt(v * v / 2 + eps);
    EXPECT_NEAR(y[0], want, 1e-5 * want) << dt;
    EXPECT_EQ(y[1], 0.0);
  }
}

// The module with a trained weight against the formula, on a 3-D input.
TEST(RMSNorm, ForwardMatchesTheFormula) {
  auto norm = RMSNorm::make({4}, 1e-6);
  norm->to(DType::f64);
  {
    NoGradGuard ng;
    norm->weight.copy_(randn({4}, f64()));
  }
  Tensor x = randn({2, 3, 4}, f64());
  std::vector<double> xs = x.to_vector<double>(), w = norm->weight.to_vector<double>();
  std::vector<double> y = norm->forward(x).to_vector<double>();
  for (size_t r = 0; r < 6; ++r) {
    double ss = 0;
    for (size_t c = 0; c < 4; ++c) ss += xs[r * 4 + c] * xs[r * 4 + c];
    const double inv = 1.0 / std::sqrt(ss / 4 + 1e-6);
    for (size_t c = 0; c < 4; ++c)
      EXPECT_NEAR(y[r * 4 + c], xs[r * 4 + c] * inv * w[c], 1e-12) << r << "," << c;
  }
}

TEST(RMSNorm, ErrorsNameTheOpAndShapes) {
  auto norm = RMSNorm::make({5});
  try {
    norm->forward(randn({2, 4}));
    FAIL() << "width 4 against normalized_shape (5)";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("rms_norm"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 4]"));
  }
  EXPECT_THROW(F::rms_norm(randn({2, 4}), {4}, randn({3})), ShapeError);
  EXPECT_THROW(F::rms_norm(Tensor(), {4}), Error);
}

TEST(RMSNorm, DoubleBackward) {
  Tensor x = randn({3, 5}, f64()).requires_grad_();
  Tensor w = randn({5}, f64()).requires_grad_();
  auto f = [](const TensorList& in) { return TensorList{F::rms_norm(in[0], {5}, in[1], 1e-5)}; };
  auto report = gradgradcheck(f, {x, w});
  EXPECT_TRUE(report.ok) << report.message;
  auto g = [](const TensorList& in) { return TensorList{F::rms_norm(in[0], {5})}; };
  auto report_plain = gradgradcheck(g, {x});
  EXPECT_TRUE(report_plain.ok) << report_plain.message;
}

}  // namespace
}  // namespace ember::nn
