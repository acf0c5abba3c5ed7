#include "registry/grad_checks.h"

#include <exception>
#include <limits>
#include <set>

#include "autograd/autograd.h"

namespace ember::cases {
namespace {

// An op that throws has no Jacobian to check: its forward check reports the error.
int64_t jacobian_size(const OpCase& c) {
  try {
    Inputs in = c.inputs(Device::cpu());
    int64_t nin = 0, nout = 0;
    for (int i : c.grad_inputs) nin += in[static_cast<size_t>(i)].numel();
    for (const Tensor& y : c.run(in))
      if (y.defined() && is_floating(y.dtype())) nout += y.numel();
    return nin * nout;
  } catch (const std::exception&) {
    return std::numeric_limits<int64_t>::max();
  }
}

// The ops that have an f64 differentiable case.
const std::set<std::string>& ops_with_f64_case() {
  static const std::set<std::string> ops = [] {
    std::set<std::string> s;
    for (const OpCase& c : op_cases())
      if (!c.grad_inputs.empty() && c.dtype == DType::f64) s.insert(c.op);
    return s;
  }();
  return ops;
}

// The case's inputs on `device` with its differentiable ones as f64 leaves that require grad.
Inputs leaves(const OpCase& c, Device device) {
  Inputs in = c.inputs(device);
  for (int i : c.grad_inputs) {
    auto& t = in[static_cast<size_t>(i)];
    t = t.detach().to(DType::f64).clone().requires_grad_();
  }
  return in;
}

// A cast to f32 inside the op rounds to 2^-24: finite differences need a wide step there.
double step_for(const OpCase& c) { return c.op == "cast" ? 1e-2 : 1e-6; }

bool double_backward_family(const OpCase& c) {
  return c.family == "unary" || c.family == "binary" || c.family == "reduce" ||
         c.family == "matmul" || c.family == "softmax" || c.family == "linalg" ||
         c.family == "scan" || c.family == "activation";
}

}  // namespace

bool gradcheck_applies(const OpCase& c) {
  if (c.grad_inputs.empty() || !is_floating(c.dtype)) return false;
  if (c.name.find("detach") != std::string::npos) return false;  // no gradient by definition
  if (c.dtype != DType::f64 && ops_with_f64_case().count(c.op)) return false;
  return jacobian_size(c) <= kMaxJacobian;
}

std::vector<const OpCase*> grad_cases() {
  std::vector<const OpCase*> out;
  for (const OpCase& c : op_cases())
    if (gradcheck_applies(c)) out.push_back(&c);
  return out;
}

std::string gradcheck_case(const OpCase& c, Device device) {
  try {
    auto f = [&c](const autograd::TensorList& xs) { return c.run(xs); };
    auto report = autograd::gradcheck(f, leaves(c, device), step_for(c), 1e-6, 1e-4);
    if (!report.ok) return "gradcheck: " + report.message;
    if (report.entries == 0) return "gradcheck compared no Jacobian entries";
    return "";
  } catch (const std::exception& e) {
    return std::string("gradcheck threw: ") + e.what();
  }
}

bool gradgradcheck_applies(const OpCase& c) {
  return double_backward_family(c) && jacobian_size(c) <= kMaxJacobian / 4;
}

std::string gradgradcheck_case(const OpCase& c, Device device) {
  try {
    auto f = [&c](const autograd::TensorList& xs) { return c.run(xs); };
    auto report = autograd::gradgradcheck(f, leaves(c, device), step_for(c), 1e-5, 1e-3);
    return report.ok ? "" : "gradgradcheck: " + report.message;
  } catch (const std::exception& e) {
    return std::string("gradgradcheck threw: ") + e.what();
  }
}

}  // namespace ember::cases
