// The activation modules of nn/activation.h: each equals its functional form, prints as
// PyTorch does, and PReLU has PyTorch's parameter name, init and per-channel gradient.
// Also clamp's argument errors, which the registry cannot express. The ops' values and
// gradients are the registry's (tests/registry/cases_activation.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <ember/ember.h>

namespace ember::nn {
namespace {

TensorOptions f64() { return {.dtype = DType::f64}; }

TEST(Activation, ModulesMatchFunctional) {
  manual_seed(3);
  Tensor x = randn({4, 3, 5}, f64()) * 4.0;
  auto same = [&](UnaryModule& m, const Tensor& want) {
    EXPECT_TRUE(equal(m(x), want)) << m.pretty_print();
  };
  same(*LeakyReLU::make(), F::leaky_relu(x, 0.01));
  same(*LeakyReLU::make(0.2), F::leaky_relu(x, 0.2));
  same(*ELU::make(0.5), F::elu(x, 0.5));
  same(*Softplus::make(2.0, 3.0), F::softplus(x, 2.0, 3.0));
  same(*Mish::make(), F::mish(x));
  same(*Hardswish::make(), F::hardswish(x));
  same(*Hardsigmoid::make(), F::hardsigmoid(x));
  same(*Softmax::make(1), F::softmax(x, 1));
  same(*LogSoftmax::make(-1), F::log_softmax(x, -1));
  // Activations are single-tensor modules, so they go into Sequential.
  auto seq = Sequential::make({ELU::make(), Hardswish::make()});
  EXPECT_TRUE(equal(seq->forward(x), F::hardswish(F::elu(x))));
}

TEST(Activation, ExtraReprAsPyTorch) {
  EXPECT_EQ(LeakyReLU::make()->pretty_print(), "LeakyReLU(negative_slope=0.01)");
  EXPECT_EQ(ELU::make()->pretty_print(), "ELU(alpha=1.0)");
  EXPECT_EQ(Softplus::make()->pretty_print(), "Softplus(beta=1.0, threshold=20.0)");
  EXPECT_EQ(Softplus::make(0.5, 10)->pretty_print(), "Softplus(beta=0.5, threshold=10.0)");
  EXPECT_EQ(Mish::make()->pretty_print(), "Mish()");
  EXPECT_EQ(Hardswish::make()->pretty_print(), "Hardswish()");
  EXPECT_EQ(Hardsigmoid::make()->pretty_print(), "Hardsigmoid()");
  EXPECT_EQ(PReLU::make()->pretty_print(), "PReLU(num_parameters=1)");
  EXPECT_EQ(Softmax::make(1)->pretty_print(), "Softmax(dim=1)");
  EXPECT_EQ(LogSoftmax::make(-1)->pretty_print(), "LogSoftmax(dim=-1)");
}

TEST(Activation, PReLUWeightNameInitAndGradient) {
  auto one = PReLU::make();
  EXPECT_EQ(one->state_dict().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(one->weight.sizes(), (Shape{1}));
  EXPECT_EQ(one->weight.to_vector<float>(), (std::vector<float>{0.25f}));

  auto per_channel = PReLU::make(3, 0.5);
  per_channel->to(DType::f64);
  EXPECT_EQ(per_channel->weight.to_vector<double>(), (std::vector<double>{0.5, 0.5, 0.5}));
  // x (1, 3, 2): channel c's weight sees only channel c's negative inputs.
  Tensor x = from_vector<double>({-1, 2, -3, -4, 5, 6}, {1, 3, 2});
  Tensor y = (*per_channel)(x);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{-0.5, 2, -1.5, -2, 5, 6}));
  y.sum().backward();
  EXPECT_EQ(per_channel->weight.grad().to_vector<double>(), (std::vector<double>{-1, -7, 0}));

  EXPECT_THROW(PReLU::make(0), ValueError);
  EXPECT_THROW(per_channel->forward(randn({2, 4, 3}, f64())), ShapeError);  // 4 channels, 3 weights
  EXPECT_THROW(F::prelu(randn({2, 3}), ones({3, 1})), ShapeError);          // 2-D weight
}

TEST(Activation, ArgumentErrors) {
  Tensor x = randn({2, 3});
  EXPECT_THROW(clamp(x, std::optional<Scalar>{}, std::optional<Scalar>{}), ValueError);
  EXPECT_THROW(x.clamp(std::optional<Tensor>{}, std::optional<Tensor>{}), ValueError);
  EXPECT_THROW(clamp(x, std::optional<Tensor>(Tensor()), std::nullopt), ValueError);
  EXPECT_THROW(clamp(x, std::optional<Tensor>(zeros({4}))), ShapeError);  // does not broadcast
  EXPECT_THROW(clamp(from_vector<bool>({true, false}), 0, 1), DTypeError);
  EXPECT_THROW(F::softplus(x, 0.0), ValueError);
  EXPECT_THROW(Softplus::make(0.0), ValueError);
  // The message names the op and the shape.
  try {
    clip(x, std::optional<Scalar>{}, std::optional<Scalar>{});
    FAIL() << "clip without bounds did not throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("clamp"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
}

TEST(Activation, ClampKeepsIntegersAndPropagatesNaN) {
  Tensor i = from_vector<int64_t>({-5, 0, 7});
  EXPECT_EQ(clamp(i, -1, 3).dtype(), DType::i64);
  EXPECT_EQ(clamp(i, -1, 3).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 3}));
  EXPECT_EQ(clamp(i, 0.5, std::nullopt).dtype(), DType::f32);  // a floating bound promotes
  // bounds past the i64 range bind nothing (no undefined conversion in the kernels)
  EXPECT_EQ(clamp(i, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())
                .to_vector<int64_t>(),
            (std::vector<int64_t>{-5, 0, 7}));
  Tensor f = from_vector<double>({NAN, -2, 2});
  std::vector<double> y = clamp(f, -1, 1).to_vector<double>();
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], -1);
  EXPECT_EQ(y[2], 1);
}

}  // namespace
}  // namespace ember::nn
