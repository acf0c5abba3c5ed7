// Anomaly mode: a NaN or an infinity produced by a backward node names that node and the
// forward op that created it; off, nothing is recorded or checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <ember/ember.h>

namespace ember {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The message backward throws, or "" when it does not throw.
std::string backward_error(const Tensor& loss) {
  try {
    loss.backward();
  } catch (const ValueError& e) {
    return e.what();
  }
  return "";
}

TEST(Anomaly, SqrtOfZeroNamesTheNodeAndTheForwardOp) {
  autograd::DetectAnomalyGuard anomaly;
  Tensor x = from_vector<float>({0.0f, 1.0f, 4.0f}, {3}).requires_grad_();
  Tensor loss = (sqrt(x) * 3.0).sum();  // d sqrt(x)/dx = 1 / (2 sqrt(x)): inf at 0
  const std::string msg = backward_error(loss);
  EXPECT_THAT(msg, HasSubstr("Function 'SqrtBackward' returned inf values in its 0th output"));
  EXPECT_THAT(msg, HasSubstr("created by sqrt on an input f32 [3]"));
  EXPECT_THAT(msg, HasSubstr("0 NaN and 1 infinite"));
  // The nodes before it (MulBackward, SumBackward) produced finite gradients.
  EXPECT_THAT(msg, Not(HasSubstr("MulBackward")));
}

TEST(Anomaly, SqrtOfANegativeGivesNaN) {
  autograd::DetectAnomalyGuard anomaly;
  Tensor x = from_vector<double>({-1.0, 2.0}, {2}).requires_grad_();
  // sqrt(-1) is NaN, and so is its gradient 1 / (2 sqrt(x)).
  const std::string msg = backward_error(sqrt(x).sum());
  EXPECT_THAT(msg, HasSubstr("Function 'SqrtBackward' returned nan values in its 0th output"));
  EXPECT_THAT(msg, HasSubstr("f64 [2]"));
  EXPECT_THAT(msg, HasSubstr("1 NaN and 0 infinite"));
}

TEST(Anomaly, TheFirstNodeToProduceANaNIsNamed) {
  autograd::DetectAnomalyGuard anomaly;
  Tensor x = from_vector<double>({-1.0, 2.0}, {2}).requires_grad_();
  Tensor w = from_vector<double>({1.0, 1.0}, {2}).requires_grad_();
  // MulBackward runs before SqrtBackward, and its gradient for w, g * sqrt(x), is NaN.
  const std::string msg = backward_error((sqrt(x) * w).sum());
  EXPECT_THAT(msg, HasSubstr("Function 'MulBackward' returned nan values in its 1st output"));
  EXPECT_THAT(msg, HasSubstr("created by mul on inputs f64 [2], f64 [2]"));
  EXPECT_FALSE(w.grad().defined());  // backward stopped before reaching the leaves
}

TEST(Anomaly, NamesTheInputSlotOfABinaryNode) {
  autograd::DetectAnomalyGuard anomaly;
  Tensor a = from_vector<float>({1.0f, 2.0f}, {2}).requires_grad_();
  Tensor b = from_vector<float>({0.0f, 1.0f}, {2}).requires_grad_();
  // d(a/b)/db = -a/b^2: infinite where b = 0; d/da = 1/b: infinite too (slot 0 first).
  const std::string msg = backward_error(div(a, b).sum());
  EXPECT_THAT(msg, HasSubstr("Function 'DivBackward' returned inf values in its 0th output"));
  EXPECT_THAT(msg, HasSubstr("created by div on inputs f32 [2], f32 [2]"));
}

TEST(Anomaly, OffRecordsAndChecksNothing) {
  ASSERT_FALSE(autograd::AnomalyMode::is_enabled());
  Tensor x = from_vector<float>({0.0f, 1.0f}, {2}).requires_grad_();
  Tensor y = sqrt(x);
  EXPECT_TRUE(y.grad_fn()->anomaly_forward.empty());  // no description recorded
  y.sum().backward();                                 // no check: no throw
  EXPECT_TRUE(std::isinf(x.grad().to_vector<float>()[0]));
}

TEST(Anomaly, GuardNestsAndRestores) {
  EXPECT_FALSE(autograd::AnomalyMode::is_enabled());
  {
    autograd::DetectAnomalyGuard on;
    EXPECT_TRUE(autograd::AnomalyMode::is_enabled());
    {
      autograd::DetectAnomalyGuard off(false);
      EXPECT_FALSE(autograd::AnomalyMode::is_enabled());
    }
    EXPECT_TRUE(autograd::AnomalyMode::is_enabled());
    Tensor x = from_vector<float>({4.0f}, {1}).requires_grad_();
    Tensor y = sqrt(x);
    EXPECT_EQ(y.grad_fn()->anomaly_forward, "created by sqrt on an input f32 [1]");
    y.sum().backward();  // finite gradients pass the check
    EXPECT_FLOAT_EQ(x.grad().to_vector<float>()[0], 0.25f);
  }
  EXPECT_FALSE(autograd::AnomalyMode::is_enabled());
}

TEST(Anomaly, ForwardOpNames) {
  EXPECT_EQ(autograd::forward_op_name("SqrtBackward"), "sqrt");
  EXPECT_EQ(autograd::forward_op_name("LogSoftmaxBackward"), "log_softmax");
  EXPECT_EQ(autograd::forward_op_name("AccumulateGrad"), "accumulate_grad");
}

}  // namespace
}  // namespace ember
