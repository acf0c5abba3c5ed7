// The gradient checks of the registry's differentiable cases, shared by the gtest suite
// (tests/autograd/gradcheck_test.cpp) and ember_ops: gradcheck in f64 (central finite
// differences), and gradgradcheck for the families whose rules are themselves
// differentiable.
#pragma once

#include <string>
#include <vector>

#include "registry/op_cases.h"

namespace ember::cases {

// The full Jacobian is numel(inputs) x numel(outputs) doubles, built twice: cases larger
// than this are checked by their smaller siblings of the same op.
constexpr int64_t kMaxJacobian = 60000;

// True for the f64 differentiable cases, and the f32 ones of ops that have no f64 case
// (their inputs are promoted to f64 for the check), when the Jacobian is small enough.
bool gradcheck_applies(const OpCase& c);
// Every case of the registry gradcheck_applies to.
std::vector<const OpCase*> grad_cases();
// gradcheck of the case with its grad_inputs as f64 leaves on `device`; "" when it passes.
std::string gradcheck_case(const OpCase& c, Device device = Device::cpu());

// True for the smaller grad cases of the elementwise, reduction, matmul and softmax families.
bool gradgradcheck_applies(const OpCase& c);
std::string gradgradcheck_case(const OpCase& c, Device device = Device::cpu());

}  // namespace ember::cases
