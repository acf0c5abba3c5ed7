// gradcheck: every derivative rule against central finite differences, in f64.
#pragma once

#include <functional>
#include <string>

#include "autograd/node.h"

namespace ember::autograd {

struct GradcheckReport {
  bool ok = true;
  std::string message;      // empty when ok; else the worst element, named
  double max_abs_diff = 0;  // largest |analytic - numeric| over all Jacobian entries
  int64_t entries = 0;      // Jacobian entries compared
  explicit operator bool() const { return ok; }
};

using DifferentiableFn = std::function<TensorList(const TensorList&)>;

// Builds the full Jacobian of f at `inputs` twice: analytically, one vector-Jacobian
// product per output element (one-hot grad_outputs through autograd::grad), and
// numerically, (f(x + eps e_k) - f(x - eps e_k)) / 2 eps per input element. Entries
// pass when |analytic - numeric| <= atol + rtol |numeric|. Inputs that require grad
// are checked and must be f64; floating outputs are differentiated.
GradcheckReport gradcheck(const DifferentiableFn& f, const TensorList& inputs, double eps = 1e-6,
                          double atol = 1e-5, double rtol = 1e-3);

// Checks the derivative of the gradient (double backward): gradcheck of
// x -> d(sum(f(x) * v))/dx, built with create_graph, for a fixed random v.
GradcheckReport gradgradcheck(const DifferentiableFn& f, const TensorList& inputs,
                              double eps = 1e-6, double atol = 1e-5, double rtol = 1e-3);

}  // namespace ember::autograd
