// Every differentiable case of the op registry through gradcheck (f64, central finite
// differences) and, for the elementwise, reduction, matmul and softmax families, through
// gradgradcheck.
#include <gtest/gtest.h>

#include <set>

#include <ember/ember.h>

#include "registry/op_cases.h"
#include "tensor/raw.h"

namespace ember {
namespace {

using cases::OpCase;

// The full Jacobian is numel(inputs) x numel(outputs) doubles, built twice: cases larger
// than this are checked by their smaller siblings of the same op.
constexpr int64_t kMaxJacobian = 60000;

int64_t jacobian_size(const OpCase& c) {
  cases::Inputs in = c.inputs(Device::cpu());
  int64_t nin = 0, nout = 0;
  for (int i : c.grad_inputs) nin += in[static_cast<size_t>(i)].numel();
  for (const Tensor& y : c.run(in))
    if (y.defined() && is_floating(y.dtype())) nout += y.numel();
  return nin * nout;
}

// The f64 cases, plus the f32 cases of ops that have no f64 case (their inputs are
// promoted to f64 for the check).
std::vector<const OpCase*> grad_cases() {
  std::set<std::string> has_f64;
  for (const OpCase& c : cases::op_cases())
    if (!c.grad_inputs.empty() && c.dtype == DType::f64) has_f64.insert(c.op);
  std::vector<const OpCase*> out;
  for (const OpCase& c : cases::op_cases()) {
    if (c.grad_inputs.empty() || !is_floating(c.dtype)) continue;
    if (c.name.find("detach") != std::string::npos) continue;  // no gradient by definition
    if (c.dtype != DType::f64 && has_f64.count(c.op)) continue;
    if (jacobian_size(c) <= kMaxJacobian) out.push_back(&c);
  }
  return out;
}

// The case's inputs with its differentiable ones as f64 leaves that require grad.
cases::Inputs leaves(const OpCase& c) {
  cases::Inputs in = c.inputs(Device::cpu());
  for (int i : c.grad_inputs) {
    auto& t = in[static_cast<size_t>(i)];
    t = t.detach().to(DType::f64).clone().requires_grad_();
  }
  return in;
}

// A cast to f32 inside the op rounds to 2^-24: finite differences need a wide step there.
double step_for(const OpCase& c) { return c.op == "cast" ? 1e-2 : 1e-6; }

class GradCheck : public ::testing::TestWithParam<const OpCase*> {};

TEST_P(GradCheck, AnalyticMatchesFiniteDifferences) {
  const OpCase& c = *GetParam();
  auto f = [&c](const autograd::TensorList& xs) { return c.run(xs); };
  auto report = autograd::gradcheck(f, leaves(c), step_for(c), 1e-6, 1e-4);
  EXPECT_TRUE(report.ok) << c.name << ": " << report.message;
  EXPECT_GT(report.entries, 0);
}

bool double_backward_family(const OpCase& c) {
  return c.family == "unary" || c.family == "binary" || c.family == "reduce" ||
         c.family == "matmul" || c.family == "softmax" || c.family == "linalg";
}

TEST_P(GradCheck, GradientIsDifferentiable) {
  const OpCase& c = *GetParam();
  if (!double_backward_family(c) || jacobian_size(c) > kMaxJacobian / 4)
    GTEST_SKIP() << "double backward is checked on the elementwise, reduction, matmul and "
                    "softmax families' smaller cases";
  auto f = [&c](const autograd::TensorList& xs) { return c.run(xs); };
  auto report = autograd::gradgradcheck(f, leaves(c), step_for(c), 1e-5, 1e-3);
  EXPECT_TRUE(report.ok) << c.name << ": " << report.message;
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
  for (const std::string& op : differentiable) EXPECT_TRUE(checked.count(op)) << op << " has no f64 case small enough for gradcheck";
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
