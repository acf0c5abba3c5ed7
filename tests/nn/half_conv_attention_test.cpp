// conv2d and scaled_dot_product_attention on bf16/f16 tensors through autograd (issue 16): the
// outputs and the gradients keep the 16-bit dtype and match the f32 computation on the same
// (16-bit) values within the dtype's rounding, on cpu and sim; attention's saved lse is f32.
// The kernels' numbers against f64 references are the registry's (cases_conv2d.cpp,
// cases_attention.cpp); here: the autograd wiring and the lse contract.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include <ember/ember.h>

#include "half_compare.h"

#include "tensor/raw.h"

namespace ember {
namespace {

using testing_half::eps_of;
using testing_half::expect_close;

// A leaf of dtype dt on dev, and an f32 leaf on the cpu holding the same (rounded) values.
struct Pair {
  Tensor half, wide;
};
Pair leaf(const Shape& shape, DType dt, Device dev) {
  Tensor h = randn(shape, {.dtype = dt});
  return {h.to(dev).detach().requires_grad_(), h.to(DType::f32).detach().requires_grad_()};
}

// The 16-bit leaf's gradient: of its dtype, and close to the f32 one.
void expect_grad(const Pair& p, DType dt, double tol, const std::string& what) {
  ASSERT_TRUE(p.half.grad().defined()) << what;
  EXPECT_EQ(p.half.grad().dtype(), dt) << what;
  expect_close(p.half.grad(), p.wide.grad(), tol, what);
}

class HalfConvAttention : public ::testing::TestWithParam<std::tuple<DType, Device>> {};

TEST_P(HalfConvAttention, Conv2dForwardAndGradientsKeepTheDtype) {
  const DType dt = std::get<0>(GetParam());
  const Device dev = std::get<1>(GetParam());
  manual_seed(7);
  Pair x = leaf({2, 6, 9, 8}, dt, dev), w = leaf({4, 3, 3, 3}, dt, dev), b = leaf({4}, dt, dev);
  const Conv2dParams p{.stride_h = 2, .pad_h = 1, .pad_w = 1, .groups = 2};
  Tensor yh = conv2d(x.half, w.half, b.half, p), yw = conv2d(x.wide, w.wide, b.wide, p);
  EXPECT_EQ(yh.dtype(), dt);
  EXPECT_EQ(yh.device(), dev);
  Tensor g = randn(yw.sizes(), {.dtype = dt});
  yh.backward(g.to(dev));
  yw.backward(g.to(DType::f32));
  const double e = eps_of(dt);
  expect_close(yh, yw, 2 * e, "conv2d out");  // rounded once, and again with the bias
  expect_grad(x, dt, 2 * e, "conv2d grad input");
  expect_grad(w, dt, 2 * e, "conv2d grad weight");
  expect_grad(b, dt, 2 * e, "conv2d grad bias");  // a sum of 16-bit gradients
}

// Head dims 64 (the tensor-core path on sim) and 24 (widened to f32 there), causal or not.
TEST_P(HalfConvAttention, AttentionForwardAndGradientsKeepTheDtype) {
  const DType dt = std::get<0>(GetParam());
  const Device dev = std::get<1>(GetParam());
  for (int64_t D : {64, 24}) {
    SCOPED_TRACE("D = " + std::to_string(D));
    manual_seed(11 + static_cast<uint64_t>(D));
    Pair q = leaf({2, 2, 37, D}, dt, dev), k = leaf({2, 2, 45, D}, dt, dev);
    Pair v = leaf({2, 2, 45, D}, dt, dev);
    const bool causal = D == 64;
    Tensor oh = scaled_dot_product_attention(q.half, k.half, v.half, Tensor(), 0.0, causal);
    Tensor ow = scaled_dot_product_attention(q.wide, k.wide, v.wide, Tensor(), 0.0, causal);
    EXPECT_EQ(oh.dtype(), dt);
    EXPECT_EQ(oh.device(), dev);
    Tensor g = randn(ow.sizes(), {.dtype = dt});
    oh.backward(g.to(dev));
    ow.backward(g.to(DType::f32));
    // The tensor-core path rounds P and dS to the dtype before their products.
    const double e = eps_of(dt);
    expect_close(oh, ow, 4 * e, "attention out");
    expect_grad(q, dt, 8 * e, "attention grad q");
    expect_grad(k, dt, 8 * e, "attention grad k");
    expect_grad(v, dt, 8 * e, "attention grad v");
  }
}

TEST_P(HalfConvAttention, AttentionSavesAnF32LogSumExp) {
  const DType dt = std::get<0>(GetParam());
  const Device dev = std::get<1>(GetParam());
  manual_seed(3);
  const TensorOptions o{.dtype = dt, .device = dev};
  Tensor q = randn({1, 2, 5, 64}, o), k = randn({1, 2, 7, 64}, o), v = randn({1, 2, 7, 64}, o);
  AttentionParams p;
  p.scale = 0.125;
  Tensor out, lse;  // not a structured binding: clang 14 cannot capture one below
  std::tie(out, lse) = raw::attention_forward(q, k, v, Tensor(), p);
  EXPECT_EQ(out.dtype(), dt);
  EXPECT_EQ(lse.dtype(), DType::f32);
  // lse_i = log sum_j exp(scale q_i . k_j), from the same 16-bit values in f64.
  Tensor s = matmul(q.to(DType::f64), k.to(DType::f64).transpose(-1, -2)) * 0.125;
  expect_close(lse, s.logsumexp({-1}), 1e-5, "lse");
  EXPECT_THAT(
      [&] { raw::attention_backward(out, q, k, v, out, lse.to(dt), Tensor(), p); },
      testing::ThrowsMessage<DTypeError>(testing::HasSubstr("expected a logsumexp of dtype f32")));
}

INSTANTIATE_TEST_SUITE_P(DTypesDevices, HalfConvAttention,
                         ::testing::Combine(::testing::Values(DType::bf16, DType::f16),
                                            ::testing::Values(Device::cpu(), Device::sim())),
                         [](const auto& param_info) {
                           const auto& pr = param_info.param;
                           return std::string(to_string(std::get<0>(pr))) + "_" +
                                  (std::get<1>(pr) == Device::cpu() ? "cpu" : "sim");
                         });

}  // namespace
}  // namespace ember
