#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/engine.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::autograd {

namespace {

std::string index_str(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return str(idx);
}

// The floating outputs of f, as f64 cpu vectors (for the numeric Jacobian).
// Grad mode stays on: gradgradcheck's f itself runs a backward pass.
std::vector<std::vector<double>> eval_flat(const DifferentiableFn& f, const TensorList& inputs) {
  std::vector<std::vector<double>> out;
  for (const Tensor& y : f(inputs))
    if (y.defined() && is_floating(y.dtype())) out.push_back(y.to_vector<double>());
  return out;
}

// inputs with element k of input i moved by delta (fresh tensors, no history).
TensorList perturbed(const TensorList& inputs, size_t i, int64_t k, double delta) {
  TensorList out = inputs;
  std::vector<double> v = inputs[i].to_vector<double>();
  v[static_cast<size_t>(k)] += delta;
  Tensor t = from_vector(v, inputs[i].sizes(), inputs[i].device());
  if (inputs[i].requires_grad()) t.requires_grad_(true);
  out[i] = t;
  return out;
}

}  // namespace

GradcheckReport gradcheck(const DifferentiableFn& f, const TensorList& inputs, double eps,
                          double atol, double rtol) {
  std::vector<size_t> diff;  // indices of inputs that require grad
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    if (inputs[i].dtype() != DType::f64)
      fail<DTypeError>("gradcheck", "input ", i, " is ", inputs[i].dtype(),
                       "; finite differences need f64 inputs");
    diff.push_back(i);
  }
  if (diff.empty()) fail<ValueError>("gradcheck", "no input requires grad");
  TensorList diff_inputs;
  for (size_t i : diff) diff_inputs.push_back(inputs[i]);

  TensorList outs;
  for (const Tensor& y : f(inputs))
    if (y.defined() && is_floating(y.dtype())) outs.push_back(y);

  // analytic[o][j][p][k]: d out_o[j] / d input_p[k]
  std::vector<std::vector<std::vector<std::vector<double>>>> analytic(outs.size());
  for (size_t o = 0; o < outs.size(); ++o) {
    const Tensor& y = outs[o];
    analytic[o].resize(static_cast<size_t>(y.numel()));
    for (int64_t j = 0; j < y.numel(); ++j) {
      auto& row = analytic[o][static_cast<size_t>(j)];
      row.resize(diff.size());
      TensorList grads;
      if (y.requires_grad()) {
        std::vector<double> onehot(static_cast<size_t>(y.numel()), 0.0);
        onehot[static_cast<size_t>(j)] = 1.0;
        Tensor go = from_vector(onehot, y.sizes(), y.device()).to(y.dtype());
        grads = grad({y}, diff_inputs, {go}, true, false, true);
      }
      for (size_t p = 0; p < diff.size(); ++p) {
        auto n = static_cast<size_t>(diff_inputs[p].numel());
        row[p] = (!grads.empty() && grads[p].defined()) ? grads[p].to_vector<double>()
                                                        : std::vector<double>(n, 0.0);
      }
    }
  }

  GradcheckReport report;
  double worst_excess = 0;
  for (size_t p = 0; p < diff.size(); ++p) {
    const Tensor& x = inputs[diff[p]];
    for (int64_t k = 0; k < x.numel(); ++k) {
      auto plus = eval_flat(f, perturbed(inputs, diff[p], k, eps));
      auto minus = eval_flat(f, perturbed(inputs, diff[p], k, -eps));
      for (size_t o = 0; o < outs.size(); ++o) {
        for (int64_t j = 0; j < outs[o].numel(); ++j) {
          double numeric =
              (plus[o][static_cast<size_t>(j)] - minus[o][static_cast<size_t>(j)]) / (2 * eps);
          double a = analytic[o][static_cast<size_t>(j)][p][static_cast<size_t>(k)];
          double d = std::fabs(a - numeric);
          ++report.entries;
          if (!(d <= report.max_abs_diff)) report.max_abs_diff = d;
          double excess = d - (atol + rtol * std::fabs(numeric));
          if (!(excess <= 0) && (report.ok || excess > worst_excess || std::isnan(excess))) {
            report.ok = false;
            worst_excess = excess;
            std::ostringstream os;
            os << "gradcheck: d output " << o << index_str(j, outs[o].sizes()) << " / d input "
               << diff[p] << index_str(k, x.sizes()) << ": analytic " << a << " vs numeric "
               << numeric << " (|diff| " << d << " > atol " << atol << " + rtol " << rtol
               << " * |numeric|)";
            report.message = os.str();
          }
        }
      }
    }
  }
  return report;
}

GradcheckReport gradgradcheck(const DifferentiableFn& f, const TensorList& inputs, double eps,
                              double atol, double rtol) {
  // Fixed random weights v for each floating output.
  TensorList vs;
  {
    NoGradGuard no_grad;
    for (const Tensor& y : f(inputs))
      if (y.defined() && is_floating(y.dtype()))
        vs.push_back(randn(y.sizes(), {.dtype = y.dtype(), .device = y.device()}));
  }
  DifferentiableFn first = [f, vs](const TensorList& xs) {
    TensorList diff;
    for (const Tensor& x : xs)
      if (x.defined() && x.requires_grad()) diff.push_back(x);
    TensorList outs;
    for (const Tensor& y : f(xs))
      if (y.defined() && is_floating(y.dtype())) outs.push_back(y);
    Tensor total;
    for (size_t o = 0; o < outs.size(); ++o) {
      if (!outs[o].requires_grad()) continue;
      Tensor term = sum(outs[o] * vs[o]);
      total = total.defined() ? total + term : term;
    }
    if (!total.defined()) return TensorList{};
    TensorList g = grad({total}, diff, {}, true, true, true);
    for (size_t i = 0; i < g.size(); ++i)
      if (!g[i].defined()) g[i] = zeros_like(diff[i]);
    return g;
  };
  return gradcheck(first, inputs, eps, atol, rtol);
}

}  // namespace ember::autograd
