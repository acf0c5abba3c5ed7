// BatchNorm1d/2d, GroupNorm, InstanceNorm2d and LayerNorm(bias=false): the module
// semantics the registry cases cannot express (train/eval, the running statistics over
// several steps against plain loops, buffers and state_dict keys, errors), on cpu and sim.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using autograd::gradgradcheck;
using autograd::TensorList;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TensorOptions f64(Device d = Device::cpu()) { return {.dtype = DType::f64, .device = d}; }

void expect_close(const Tensor& got, const std::vector<double>& want, double tol = 1e-9) {
  std::vector<double> g = got.to_vector<double>();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want[i], tol * (1 + std::fabs(want[i]))) << "at " << i;
}

// One training step of a batch norm on x (N, C, S) values, as torch documents it: the
// batch's biased statistics normalize, the running ones move by `factor` toward the
// batch's mean and unbiased variance.
struct PlainBatchNorm {
  std::vector<double> running_mean, running_var;
  std::vector<double> step(const std::vector<double>& x, int64_t N, int64_t C, int64_t S,
                           double factor, bool training) {
    std::vector<double> y(x.size());
    const auto n = static_cast<double>(N * S);
    for (int64_t c = 0; c < C; ++c) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t s = 0; s < S; ++s) mean += x[static_cast<size_t>((i * C + c) * S + s)] / n;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t s = 0; s < S; ++s)
          var += std::pow(x[static_cast<size_t>((i * C + c) * S + s)] - mean, 2) / n;
      auto& rm = running_mean[static_cast<size_t>(c)];
      auto& rv = running_var[static_cast<size_t>(c)];
      if (training) {
        rm = (1 - factor) * rm + factor * mean;
        rv = (1 - factor) * rv + factor * var * n / (n - 1);
      } else {
        mean = rm;
        var = rv;
      }
      for (int64_t i = 0; i < N; ++i)
        for (int64_t s = 0; s < S; ++s) {
          const auto at = static_cast<size_t>((i * C + c) * S + s);
          y[at] = (x[at] - mean) / std::sqrt(var + 1e-5);
        }
    }
    return y;
  }
};

class BatchNormDevices : public ::testing::TestWithParam<DeviceType> {};

// Three training steps then eval, with momentum 0.1 and with momentum unset (cumulative
// average: factors 1, 1/2, 1/3), against the plain loops.
TEST_P(BatchNormDevices, RunningStatisticsOverThreeSteps) {
  const Device dev{GetParam(), 0};
  for (std::optional<double> momentum : {std::optional<double>(0.1), std::optional<double>()}) {
    SCOPED_TRACE(momentum ? "momentum 0.1" : "cumulative");
    manual_seed(7);
    auto bn = BatchNorm2d::make(3, {.momentum = momentum});
    bn->to(DType::f64);
    bn->to(dev);
    PlainBatchNorm ref{{0, 0, 0}, {1, 1, 1}};
    for (int step = 1; step <= 3; ++step) {
      Tensor x = randn({4, 3, 2, 5}, f64()) * 3.0 + 1.5;  // (N, C, H, W)
      const std::vector<double> want =
          ref.step(x.to_vector<double>(), 4, 3, 10, momentum ? *momentum : 1.0 / step, true);
      expect_close(bn->forward(x.to(dev)), want, 1e-7);
      expect_close(bn->running_mean, ref.running_mean, 1e-9);
      expect_close(bn->running_var, ref.running_var, 1e-9);
      EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::i64);
      EXPECT_EQ(bn->num_batches_tracked.dim(), 0);
      EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), step);
    }
    bn->eval();
    Tensor x = randn({2, 3, 2, 5}, f64());
    const std::vector<double> want = ref.step(x.to_vector<double>(), 2, 3, 10, 0.0, false);
    expect_close(bn->forward(x.to(dev)), want, 1e-7);
    EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 3);  // eval counts nothing
    expect_close(bn->running_mean, ref.running_mean, 1e-12);
  }
}

TEST_P(BatchNormDevices, WithoutRunningStatisticsEvalUsesTheBatch) {
  const Device dev{GetParam(), 0};
  auto bn = BatchNorm1d::make(4, {.track_running_stats = false});
  EXPECT_TRUE(bn->named_buffers().empty());
  bn->to(dev);
  Tensor x = (randn({5, 4, 3}) * 2.0 + 1.0).to(dev);
  std::vector<double> train = bn->forward(x).to_vector<double>();
  bn->eval();
  expect_close(bn->forward(x), train, 1e-6);
  PlainBatchNorm ref{{0, 0, 0, 0}, {1, 1, 1, 1}};
  expect_close(bn->forward(x), ref.step(x.to_vector<double>(), 5, 4, 3, 0.1, true), 1e-5);
}

std::string device_name(const ::testing::TestParamInfo<DeviceType>& p) {
  return p.param == DeviceType::cpu ? "cpu" : "sim";
}
INSTANTIATE_TEST_SUITE_P(Norm, BatchNormDevices,
                         ::testing::Values(DeviceType::cpu, DeviceType::sim), device_name);

TEST(BatchNorm, ParametersBuffersAndKeysAsTorch) {
  auto bn = BatchNorm2d::make(16);
  EXPECT_THAT(bn->state_dict().keys(),
              ElementsAre("weight", "bias", "running_mean", "running_var", "num_batches_tracked"));
  expect_close(bn->weight, std::vector<double>(16, 1.0));
  expect_close(bn->bias, std::vector<double>(16, 0.0));
  expect_close(bn->running_mean, std::vector<double>(16, 0.0));
  expect_close(bn->running_var, std::vector<double>(16, 1.0));
  EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::i64);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 0);
  EXPECT_EQ(bn->extra_repr(), "16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True");
  EXPECT_EQ(bn->name(), "BatchNorm2d");

  auto plain = BatchNorm1d::make(3, {.momentum = std::nullopt, .affine = false});
  EXPECT_THAT(plain->state_dict().keys(),
              ElementsAre("running_mean", "running_var", "num_batches_tracked"));
  EXPECT_TRUE(plain->parameters().empty());
  EXPECT_EQ(plain->extra_repr(),
            "3, eps=1e-05, momentum=None, affine=False, track_running_stats=True");

  // to(f64) moves the floating state; the counter stays i64.
  bn->to(DType::f64);
  EXPECT_EQ(bn->running_var.dtype(), DType::f64);
  EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::i64);
}

TEST(BatchNorm, AffineGradientsFlowAndTheRunningStatisticsGetNone) {
  auto bn = BatchNorm1d::make(3);
  Tensor x = randn({6, 3}).requires_grad_();
  bn->forward(x).pow(2).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  ASSERT_TRUE(bn->weight.grad().defined());
  ASSERT_TRUE(bn->bias.grad().defined());
  EXPECT_FALSE(bn->running_mean.requires_grad());
  // sum over the batch of the normalized values is zero: so is sum of y's bias gradient / 2.
  expect_close(bn->bias.grad(), std::vector<double>(3, 0.0), 1e-5);
}

TEST(BatchNorm, ErrorsNameTheModuleAndShapes) {
  auto bn2 = BatchNorm2d::make(3);
  try {
    bn2->forward(randn({2, 3, 4}));
    FAIL() << "a 3-D input reached BatchNorm2d";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("BatchNorm2d"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 3, 4]"));
  }
  EXPECT_THROW(bn2->forward(randn({2, 4, 3, 3})), ShapeError);  // 4 channels, not 3
  auto bn1 = BatchNorm1d::make(3);
  EXPECT_THROW(bn1->forward(randn({2, 3, 4, 5})), ShapeError);
  try {
    bn1->forward(randn({1, 3}));
    FAIL() << "one value per channel in training";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("Expected more than 1 value per channel when training"));
    EXPECT_THAT(e.what(), HasSubstr("[1, 3]"));
  }
  EXPECT_EQ(bn1->num_batches_tracked.item<int64_t>(), 1);  // torch counts before it checks
  bn1->eval();
  EXPECT_EQ(bn1->forward(randn({1, 3})).sizes(), (Shape{1, 3}));  // fine in eval
  EXPECT_THROW(F::batch_norm(randn({1, 3, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true),
               ValueError);
  EXPECT_THROW(F::batch_norm(randn({2, 3}), Tensor(), Tensor()), ValueError);  // eval, no stats
  EXPECT_THROW(F::batch_norm(randn({2, 3}), zeros({4}), ones({4}), Tensor(), Tensor(), true),
               ShapeError);
}

// The create_graph gradients (written with differentiable ops) differentiate again.
TEST(BatchNorm, DoubleBackward) {
  Tensor x = randn({3, 2, 4}, f64()).requires_grad_();
  Tensor w = randn({2}, f64()).requires_grad_();
  Tensor b = randn({2}, f64()).requires_grad_();
  Tensor rm = randn({2}, f64()), rv = rand({2}, f64()) + 0.5;
  for (bool training : {true, false}) {
    auto f = [&](const TensorList& in) {
      return TensorList{F::batch_norm(in[0], rm, rv, in[1], in[2], training, 0.0)};
    };
    auto report = gradgradcheck(f, {x, w, b});
    EXPECT_TRUE(report.ok) << (training ? "training: " : "eval: ") << report.message;
  }
}

TEST(GroupNorm, ModuleSemanticsAndDoubleBackward) {
  auto gn = GroupNorm::make(2, 6);
  EXPECT_THAT(gn->state_dict().keys(), ElementsAre("weight", "bias"));
  EXPECT_EQ(gn->extra_repr(), "2, 6, eps=1e-05, affine=True");
  EXPECT_TRUE(GroupNorm::make(3, 6, 1e-5, false)->parameters().empty());
  try {
    GroupNorm::make(4, 6);
    FAIL() << "6 channels in 4 groups";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("GroupNorm"));
  }
  EXPECT_THROW(gn->forward(randn({2, 4, 3})), ShapeError);
  EXPECT_THROW(F::group_norm(randn({2, 6, 3}), 4), ValueError);
  // Each (sample, group) comes out with mean 0 and variance 1 (weight 1, bias 0).
  Tensor y = gn->forward(randn({3, 6, 5}) * 4.0 + 2.0).reshape({3, 2, 15});
  expect_close(y.mean({2}).reshape({-1}), std::vector<double>(6, 0.0), 1e-5);
  expect_close(y.var({2}, 0).reshape({-1}), std::vector<double>(6, 1.0), 1e-4);

  Tensor x = randn({2, 4, 3}, f64()).requires_grad_();
  Tensor w = randn({4}, f64()).requires_grad_(), b = randn({4}, f64()).requires_grad_();
  auto f = [](const TensorList& in) { return TensorList{F::group_norm(in[0], 2, in[1], in[2])}; };
  auto report = gradgradcheck(f, {x, w, b});
  EXPECT_TRUE(report.ok) << report.message;
}

TEST(InstanceNorm2d, DefaultsTrainingEvalAndUnbatched) {
  auto in = InstanceNorm2d::make(3);
  EXPECT_TRUE(in->state_dict().keys().empty());
  EXPECT_EQ(in->extra_repr(),
            "3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False");
  Tensor x = randn({2, 3, 4, 4}) * 3.0 + 1.0;
  Tensor y = in->forward(x).reshape({6, 16});
  expect_close(y.mean({1}), std::vector<double>(6, 0.0), 1e-5);
  in->eval();  // no running statistics: eval normalizes each instance too
  expect_close(in->forward(x).reshape({6, 16}), y.to_vector<double>(), 1e-6);
  EXPECT_EQ(in->forward(randn({3, 4, 4})).sizes(), (Shape{3, 4, 4}));
  EXPECT_THROW(in->forward(randn({2, 3, 16})), ShapeError);

  auto tracked = InstanceNorm2d::make(3, {.affine = true, .track_running_stats = true});
  EXPECT_THAT(tracked->state_dict().keys(),
              ElementsAre("weight", "bias", "running_mean", "running_var", "num_batches_tracked"));
  tracked->forward(x);
  // The running mean moved 0.1 toward the batch mean of the per-instance means.
  std::vector<double> xv = x.to_vector<double>(), want(3, 0.0);
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int s = 0; s < 16; ++s)
        want[static_cast<size_t>(c)] += 0.1 * xv[(n * 3 + c) * 16 + s] / 32;
  expect_close(tracked->running_mean, want, 1e-5);
  EXPECT_EQ(tracked->num_batches_tracked.item<int64_t>(), 0);  // as torch: never counted
}

TEST(LayerNorm, BiasFalseRegistersOnlyTheWeight) {
  auto ln = LayerNorm::make({8}, 1e-5, true, false);
  EXPECT_THAT(ln->state_dict().keys(), ElementsAre("weight"));
  EXPECT_FALSE(ln->bias.defined());
  Tensor x = randn({3, 8});
  expect_close(ln->forward(x), F::layer_norm(x, {8}, ln->weight).to_vector<double>(), 1e-6);
  EXPECT_THAT(LayerNorm::make({8})->state_dict().keys(), ElementsAre("weight", "bias"));
}

}  // namespace
}  // namespace ember::nn
