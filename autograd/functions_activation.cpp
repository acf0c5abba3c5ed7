// Differentiable clamp and the activations of issue 14. The scalar-parameter forms are
// one fused unary pass (UnaryOp::clamp, leaky_relu, elu, softplus, mish, hardswish,
// hardsigmoid); clamp with tensor bounds and prelu are composites of binary ops. Rules
// are written with differentiable ops, so double backward works.
#include <cmath>
#include <limits>

#include "autograd/autocast_policy.h"
#include "autograd/recording.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

// Runs the fused op and records rule(g, x) as its derivative.
template <typename Rule>
Tensor fused_unary(UnaryOp op, const char* node, const Tensor& x, double arg, double arg2,
                   Rule rule) {
  raw::check_defined(to_string(op), x);
  Tensor y = raw::unary(op, x, arg, arg2);
  if (needs_grad({&x})) {
    SavedTensor sx(x, false);
    record(node, {x}, y, [=](const TensorList& g) { return TensorList{rule(g[0], sx.unpack())}; });
  }
  return y;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

bool is_floating_bound(const std::optional<Scalar>& s) { return s && s->is_floating(); }
bool given(const std::optional<Tensor>& t) { return t && t->defined(); }

}  // namespace

// ---- clamp -------------------------------------------------------------------------------

// clamp with scalar bounds: dx = g where min <= x <= max (an absent bound always holds)
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  raw::check_defined("clamp", x);
  if (!min && !max)
    fail<ValueError>("clamp", "at least one of min and max must be given (input of shape ",
                     str(x.sizes()), ")");
  // A floating bound lifts an integer tensor to the default float dtype (torch.result_type).
  Tensor in = x;
  if (!is_floating(x.dtype()) && (is_floating_bound(min) || is_floating_bound(max)))
    in = raw::cast(x, DType::f32);
  const double lo = min ? min->to_double() : -kInf;
  const double hi = max ? max->to_double() : kInf;
  return fused_unary(UnaryOp::clamp, "ClampBackward", in, lo, hi,
                     [min, max](const Tensor& g, const Tensor& x_) {
                       Tensor pass;  // bool: where x is inside the bounds
                       if (min) pass = x_ >= *min;
                       if (max) pass = pass.defined() ? logical_and(pass, x_ <= *max) : x_ <= *max;
                       return where(pass, g, 0);
                     });
}

// clamp with tensor bounds, as torch's clamp backward:
//   dx = g where min <= x <= max; dmin = g where x < min (and min < max when both);
//   dmax = g where x > max (or max < min when both, where max alone decides the result).
Tensor clamp(const Tensor& x, const std::optional<Tensor>& min, const std::optional<Tensor>& max) {
  raw::check_defined("clamp", x);
  const bool has_min = given(min), has_max = given(max);
  if (!has_min && !has_max)
    fail<ValueError>("clamp", "at least one of min and max must be given (input of shape ",
                     str(x.sizes()), ")");
  Tensor y = x;
  if (has_min) y = raw::binary(BinaryOp::maximum, y, *min);
  if (has_max) y = raw::binary(BinaryOp::minimum, y, *max);
  TensorList inputs{x};
  if (has_min) inputs.push_back(*min);
  if (has_max) inputs.push_back(*max);
  if (needs_grad(inputs)) {
    SavedTensor sx(x, false);
    SavedTensor slo = has_min ? SavedTensor(*min, false) : SavedTensor();
    SavedTensor shi = has_max ? SavedTensor(*max, false) : SavedTensor();
    record("ClampBackward", inputs, y, [=](const TensorList& gs) {
      const Tensor& g = gs[0];
      Tensor x_ = sx.unpack();
      Tensor lo = has_min ? slo.unpack() : Tensor(), hi = has_max ? shi.unpack() : Tensor();
      TensorList out;
      if (has_min && has_max) {
        out.push_back(where(logical_and(x_ >= lo, x_ <= hi), g, 0));
        out.push_back(where(logical_and(x_ < lo, lo < hi), g, 0));
        out.push_back(where(logical_or(x_ > hi, hi < lo), g, 0));
      } else if (has_min) {
        out.push_back(where(x_ >= lo, g, 0));
        out.push_back(where(x_ < lo, g, 0));
      } else {
        out.push_back(where(x_ <= hi, g, 0));
        out.push_back(where(x_ > hi, g, 0));
      }
      return out;
    });
  }
  return y;
}

Tensor clip(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  return clamp(x, min, max);
}
Tensor clip(const Tensor& x, const std::optional<Tensor>& min, const std::optional<Tensor>& max) {
  return clamp(x, min, max);
}
Tensor clamp_min(const Tensor& x, const Scalar& min) {
  return clamp(x, std::optional<Scalar>(min), std::nullopt);
}
Tensor clamp_min(const Tensor& x, const Tensor& min) {
  return clamp(x, std::optional<Tensor>(min), std::nullopt);
}
Tensor clamp_max(const Tensor& x, const Scalar& max) {
  return clamp(x, std::nullopt, std::optional<Scalar>(max));
}
Tensor clamp_max(const Tensor& x, const Tensor& max) {
  return clamp(x, std::nullopt, std::optional<Tensor>(max));
}

// ---- activations -----------------------------------------------------------------------

// leaky_relu: dx = g where x > 0, else g slope
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return fused_unary(UnaryOp::leaky_relu, "LeakyReluBackward", x, negative_slope, 0.0,
                     [negative_slope](const Tensor& g, const Tensor& x_) {
                       return where(x_ > 0, g, g * negative_slope);
                     });
}

// elu: y = alpha (exp(x) - 1) for x <= 0, so dx = g (y + alpha) there (bounded, unlike
// exp(x) on the other branch), and g for x > 0
Tensor elu(const Tensor& x, double alpha) {
  return fused_unary(UnaryOp::elu, "EluBackward", x, alpha, 0.0,
                     [alpha](const Tensor& g, const Tensor& x_) {
                       return where(x_ > 0, g, g * (elu(x_, alpha) + alpha));
                     });
}

// softplus: dx = g sigmoid(beta x), and g where beta x > threshold (the linear part)
Tensor softplus(const Tensor& x, double beta, double threshold) {
  if (beta == 0.0) fail<ValueError>("softplus", "beta must be nonzero, got 0");
  return fused_unary(UnaryOp::softplus, "SoftplusBackward", x, beta, threshold,
                     [beta, threshold](const Tensor& g, const Tensor& x_) {
                       Tensor z = x_ * beta;
                       return where(z > threshold, g, g * sigmoid(z));
                     });
}

// mish: y = x t, t = tanh(softplus(x)): dx = g (t + x sigmoid(x) (1 - t^2))
Tensor mish(const Tensor& x) {
  return fused_unary(UnaryOp::mish, "MishBackward", x, 0.0, 0.0,
                     [](const Tensor& g, const Tensor& x_) {
                       Tensor t = tanh(softplus(x_));
                       return g * (t + x_ * sigmoid(x_) * (1.0 - t * t));
                     });
}

// hardswish: dx = 0 for x < -3, g (x / 3 + 1/2) for -3 <= x <= 3, g for x > 3 (torch's
// choice at the kinks)
Tensor hardswish(const Tensor& x) {
  return fused_unary(UnaryOp::hardswish, "HardswishBackward", x, 0.0, 0.0,
                     [](const Tensor& g, const Tensor& x_) {
                       Tensor slope = where(x_ <= 3.0, x_ / 3.0 + 0.5, 1.0);
                       return g * where(x_ >= -3.0, slope, 0.0);
                     });
}

// hardsigmoid: dx = g / 6 for -3 < x < 3, else 0
Tensor hardsigmoid(const Tensor& x) {
  return fused_unary(UnaryOp::hardsigmoid, "HardsigmoidBackward", x, 0.0, 0.0,
                     [](const Tensor& g, const Tensor& x_) {
                       return where(logical_and(x_ > -3.0, x_ < 3.0), g / 6.0, 0.0);
                     });
}

// prelu: x where x > 0, else weight x; weight broadcast along dim 1. A composite of
// differentiable ops: dx = g (1 or weight), dweight = sum of g x where x <= 0.
Tensor prelu(const Tensor& x, const Tensor& weight) {
  if (autocast_policy::active())  // autocast: lower precision (torch's cpu and cuda lists)
    return autocast_policy::lower_precision(
        [](const Tensor& x_, const Tensor& w_) { return prelu(x_, w_); }, x, weight);
  raw::check_defined("prelu", x);
  raw::check_defined("prelu", weight);
  if (weight.dim() > 1)
    fail<ShapeError>("prelu", "weight must be a scalar or 1-D tensor, got shape ",
                     str(weight.sizes()));
  Tensor w = weight;
  if (weight.numel() != 1) {
    if (x.dim() == 0)
      fail<ShapeError>("prelu", "a 0-dim input takes one weight, got weight of shape ",
                       str(weight.sizes()));
    const int64_t channels = x.dim() > 1 ? x.sizes()[1] : 1;
    if (weight.numel() != channels)
      fail<ShapeError>("prelu", "weight of shape ", str(weight.sizes()), " does not match the ",
                       channels, " channels (dim 1) of the input of shape ", str(x.sizes()));
  }
  if (x.dim() >= 2) {  // (C) -> (C, 1, ..., 1): broadcasts along dim 1
    Shape shape(static_cast<size_t>(x.dim() - 1), 1);
    shape[0] = weight.numel();
    w = weight.reshape(shape);
  }
  return where(x > 0, x, w * x);
}

}  // namespace ember
