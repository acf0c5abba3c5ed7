// Every differentiable case of the op registry through gradcheck (f64, central finite
// differences) and, for the elementwise, reduction, matmul and softmax families, through
// gradgradcheck.
#include <gtest/gtest.h>

#include <set>

#include <ember/ember.h>

#include "registry/grad_checks.h"
#include "tensor/raw.h"

namespace ember {
namespace {

using cases::OpCase;

using cases::grad_cases;

class GradCheck : public ::testing::TestWithParam<const OpCase*> {};

TEST_P(GradCheck, AnalyticMatchesFiniteDifferences) {
  const OpCase& c = *GetParam();
  EXPECT_EQ(cases::gradcheck_case(c), "") << c.name;
}

TEST_P(GradCheck, GradientIsDifferentiable) {
  const OpCase& c = *GetParam();
  if (!cases::gradgradcheck_applies(c))
    GTEST_SKIP() << "double backward is checked on the elementwise, reduction, matmul and "
                    "softmax families' smaller cases";
  EXPECT_EQ(cases::gradgradcheck_case(c), "") << c.name;
}

INSTANTIATE_TEST_SUITE_P(Registry, GradCheck, ::testing::ValuesIn(grad_cases()),
                         [](const ::testing::TestParamInfo<const OpCase*>& param_info) {
                           return cases::sanitize(param_info.param->name);
                         });

// Every op with a differentiable case has at least one case small enough to be checked.
TEST(GradCheckCoverage, EveryDifferentiableOpIsChecked) {
  std::set<std::string> checked, differentiable;
  for (const OpCase& c : cases::op_cases())
    if (!c.grad_inputs.empty()) differentiable.insert(c.op);
  for (const OpCase* c : grad_cases()) checked.insert(c->op);
  for (const std::string& op : differentiable)
    EXPECT_TRUE(checked.count(op)) << op << " has no f64 case small enough for gradcheck";
}

// gradcheck itself must fail on a wrong rule: a planted bad derivative is caught.
TEST(GradCheckSelfTest, CatchesAWrongDerivative) {
  Tensor x = randn({3}, {.dtype = DType::f64}).requires_grad_();
  auto wrong = [](const autograd::TensorList& xs) {
    Tensor y = raw::unary(UnaryOp::exp, xs[0]);  // the value of exp...
    autograd::record("WrongExpBackward", {xs[0]}, y, [](const autograd::TensorList& g) {
      return autograd::TensorList{g[0] * 2.0};  // ...with a derivative that is not exp
    });
    return autograd::TensorList{y};
  };
  auto report = autograd::gradcheck(wrong, {x});
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.message.find("analytic"), std::string::npos);
}

}  // namespace
}  // namespace ember
