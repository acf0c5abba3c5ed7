// Differentiable elementwise ops: forward through the raw op, then the derivative rule.
// Rules are written with differentiable ops, so with create_graph they record too
// (double backward). Gradients are returned in the broadcast shape and dtype of the
// output; FunctionNode sums them down to each input's shape and casts to its dtype.
#include <cmath>
#include <numbers>

#include "autograd/autocast_policy.h"
#include "autograd/grad_mode.h"
#include "autograd/recording.h"
#include "tensor/raw_gelu.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

// d out / d x for the unary ops, given the incoming gradient g, the input x and output y.
using UnaryRule = Tensor (*)(const Tensor& g, const Tensor& x, const Tensor& y, double arg);

// autocast's f32 list (torch's fp32 policy): the ops whose 16-bit results lose too much
// (exp and log over a wide range, powers).
bool runs_in_f32(UnaryOp op) {
  return op == UnaryOp::exp || op == UnaryOp::expm1 || op == UnaryOp::log || op == UnaryOp::log1p ||
         op == UnaryOp::rsqrt || op == UnaryOp::pow_scalar || op == UnaryOp::softplus;
}

Tensor unary_op(UnaryOp op, const char* node, const Tensor& x, UnaryRule rule, bool save_x,
                bool save_y, double arg = 0.0) {
  if (autocast_policy::active() && runs_in_f32(op))  // autocast: exp, log, pow, ...
    return autocast_policy::fp32(
        [&](const Tensor& t) { return unary_op(op, node, t, rule, save_x, save_y, arg); }, x);
  Tensor y = raw::unary(op, x, arg);
  if (needs_grad({&x})) {
    SavedTensor sx = save_x ? SavedTensor(x, false) : SavedTensor();
    auto sy = autograd::saved_output();
    record(node, {x}, y, [=](const TensorList& g) {
      return TensorList{rule(g[0], sx.unpack(), sy->unpack(), arg)};
    });
    if (save_y) autograd::fill(sy, y);
  }
  return y;
}

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluC = 0.044715;

}  // namespace

// neg: dx = -g
Tensor neg(const Tensor& x) {
  return unary_op(
      UnaryOp::neg, "NegBackward", x,
      [](const Tensor& g, const Tensor&, const Tensor&, double) { return -g; }, false, false);
}
// abs: dx = g * sign(x)
Tensor abs(const Tensor& x) {
  return unary_op(
      UnaryOp::abs, "AbsBackward", x,
      [](const Tensor& g, const Tensor& x_, const Tensor&, double) { return g * sign(x_); }, true,
      false);
}
// sign: piecewise constant, dx = 0
Tensor sign(const Tensor& x) {
  return unary_op(
      UnaryOp::sign, "SignBackward", x,
      [](const Tensor&, const Tensor&, const Tensor&, double) { return Tensor(); }, false, false);
}
// exp: dx = g * y
Tensor exp(const Tensor& x) {
  return unary_op(
      UnaryOp::exp, "ExpBackward", x,
      [](const Tensor& g, const Tensor&, const Tensor& y, double) { return g * y; }, false, true);
}
// log: dx = g / x
Tensor log(const Tensor& x) {
  return unary_op(
      UnaryOp::log, "LogBackward", x,
      [](const Tensor& g, const Tensor& x_, const Tensor&, double) { return g / x_; }, true, false);
}
// sqrt: dx = g / (2 y)
Tensor sqrt(const Tensor& x) {
  return unary_op(
      UnaryOp::sqrt, "SqrtBackward", x,
      [](const Tensor& g, const Tensor&, const Tensor& y, double) { return g / (y * 2.0); }, false,
      true);
}
// rsqrt: y = x^(-1/2), dx = -g y^3 / 2
Tensor rsqrt(const Tensor& x) {
  return unary_op(
      UnaryOp::rsqrt, "RsqrtBackward", x,
      [](const Tensor& g, const Tensor&, const Tensor& y, double) { return g * y * y * y * -0.5; },
      false, true);
}
// tanh: dx = g (1 - y^2)
Tensor tanh(const Tensor& x) {
  return unary_op(
      UnaryOp::tanh, "TanhBackward", x,
      [](const Tensor& g, const Tensor&, const Tensor& y, double) { return g * (1.0 - y * y); },
      false, true);
}
// sigmoid: dx = g y (1 - y)
Tensor sigmoid(const Tensor& x) {
  return unary_op(
      UnaryOp::sigmoid, "SigmoidBackward", x,
      [](const Tensor& g, const Tensor&, const Tensor& y, double) { return g * y * (1.0 - y); },
      false, true);
}
// relu: dx = g where y > 0, else 0
Tensor relu(const Tensor& x) {
  return unary_op(
      UnaryOp::relu, "ReluBackward", x,
      [](const Tensor& g, const Tensor&, const Tensor& y, double) {
        // One fused pass (no bool mask) unless the backward itself is being recorded.
        if (!autograd::GradMode::is_enabled()) return raw::binary(BinaryOp::relu_backward, g, y);
        return where(y > 0, g, 0);
      },
      false, true);
}
// silu: y = x s(x), dx = g s (1 + x (1 - s))
Tensor silu(const Tensor& x) {
  return unary_op(
      UnaryOp::silu, "SiluBackward", x,
      [](const Tensor& g, const Tensor& x_, const Tensor&, double) {
        Tensor s = sigmoid(x_);
        return g * s * (1.0 + x_ * (1.0 - s));
      },
      true, false);
}
// sin: dx = g cos(x); cos: dx = -g sin(x)
Tensor sin(const Tensor& x) {
  return unary_op(
      UnaryOp::sin, "SinBackward", x,
      [](const Tensor& g, const Tensor& x_, const Tensor&, double) { return g * cos(x_); }, true,
      false);
}
Tensor cos(const Tensor& x) {
  return unary_op(
      UnaryOp::cos, "CosBackward", x,
      [](const Tensor& g, const Tensor& x_, const Tensor&, double) { return -(g * sin(x_)); }, true,
      false);
}
// erf: dx = g 2/sqrt(pi) exp(-x^2)
Tensor erf(const Tensor& x) {
  return unary_op(
      UnaryOp::erf, "ErfBackward", x,
      [](const Tensor& g, const Tensor& x_, const Tensor&, double) {
        return g * exp(-(x_ * x_)) * (2.0 * std::numbers::inv_sqrtpi);
      },
      true, false);
}

Tensor gelu(const Tensor& x, std::string_view approximate) {
  if (approximate == "none") {
    // y = x Phi(x): dx = g (Phi(x) + x phi(x)), phi the standard normal density
    return unary_op(
        UnaryOp::gelu, "GeluBackward", x,
        [](const Tensor& g, const Tensor& x_, const Tensor&, double) {
          // One fused pass unless the backward itself is being recorded (create_graph).
          if (!autograd::GradMode::is_enabled()) return raw::gelu_backward(g, x_, false);
          Tensor cdf = (erf(x_ * kInvSqrt2) + 1.0) * 0.5;
          Tensor pdf = exp(x_ * x_ * -0.5) * kInvSqrt2Pi;
          return g * (cdf + x_ * pdf);
        },
        true, false);
  }
  if (approximate == "tanh") {
    // y = x (1 + tanh(u)) / 2, u = k (x + c x^3):
    // dx = g ((1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2), t = tanh(u)
    return unary_op(
        UnaryOp::gelu_tanh, "GeluBackward", x,
        [](const Tensor& g, const Tensor& x_, const Tensor&, double) {
          if (!autograd::GradMode::is_enabled()) return raw::gelu_backward(g, x_, true);
          Tensor x2 = x_ * x_;
          Tensor t = tanh((x_ + x2 * x_ * kGeluC) * kSqrt2OverPi);
          Tensor du = (x2 * (3.0 * kGeluC) + 1.0) * kSqrt2OverPi;
          return g * ((t + 1.0) * 0.5 + x_ * (1.0 - t * t) * du * 0.5);
        },
        true, false);
  }
  fail<ValueError>("gelu", "approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
}

// pow(x, p): dx = g p x^(p-1)
Tensor pow(const Tensor& x, const Scalar& exponent) {
  raw::check_defined("pow", x);
  Tensor base = x;
  if (!is_floating(x.dtype())) {
    if (exponent.is_floating()) {
      base = raw::cast(x, DType::f32);
    } else {
      if (exponent.to_int() < 0)
        fail<ValueError>("pow", "integers to negative integer powers are not allowed (", x.dtype(),
                         " tensor of shape ", str(x.sizes()), " to the power ", exponent, ")");
      base = raw::cast(x, DType::i64);
    }
  }
  return unary_op(
      UnaryOp::pow_scalar, "PowBackward", base,
      [](const Tensor& g, const Tensor& x_, const Tensor&, double p) {
        if (p == 0.0) return Tensor();
        return g * pow(x_, p - 1.0) * p;
      },
      true, false, exponent.to_double());
}

// floor, ceil, round, trunc: piecewise constant, dx = 0 (integers pass through unchanged)
Tensor floor(const Tensor& x) {
  return unary_op(
      UnaryOp::floor, "FloorBackward", x,
      [](const Tensor&, const Tensor&, const Tensor&, double) { return Tensor(); }, false, false);
}
Tensor ceil(const Tensor& x) {
  return unary_op(
      UnaryOp::ceil, "CeilBackward", x,
      [](const Tensor&, const Tensor&, const Tensor&, double) { return Tensor(); }, false, false);
}
Tensor round(const Tensor& x) {
  return unary_op(
      UnaryOp::round, "RoundBackward", x,
      [](const Tensor&, const Tensor&, const Tensor&, double) { return Tensor(); }, false, false);
}
Tensor trunc(const Tensor& x) {
  return unary_op(
      UnaryOp::trunc, "TruncBackward", x,
      [](const Tensor&, const Tensor&, const Tensor&, double) { return Tensor(); }, false, false);
}
// log1p: dx = g / (1 + x)
Tensor log1p(const Tensor& x) {
  return unary_op(
      UnaryOp::log1p, "Log1PBackward", x,
      [](const Tensor& g, const Tensor& x_, const Tensor&, double) { return g / (x_ + 1.0); }, true,
      false);
}
// expm1: dx = g (y + 1)
Tensor expm1(const Tensor& x) {
  return unary_op(
      UnaryOp::expm1, "Expm1Backward", x,
      [](const Tensor& g, const Tensor&, const Tensor& y, double) { return g * (y + 1.0); }, false,
      true);
}

// ---- binary --------------------------------------------------------------------------

namespace {
// Records a binary op; rule returns {da, db} in the output's broadcast shape.
template <typename Rule>
Tensor binary_op(BinaryOp op, const char* node, const Tensor& a, const Tensor& b, bool save_ab,
                 bool save_y, Rule rule) {
  Tensor y = raw::binary(op, a, b);
  if (needs_grad({&a, &b})) {
    SavedTensor sa = save_ab ? SavedTensor(a, false) : SavedTensor();
    SavedTensor sb = save_ab ? SavedTensor(b, false) : SavedTensor();
    auto sy = autograd::saved_output();
    record(node, {a, b}, y,
           [=](const TensorList& g) { return rule(g[0], sa.unpack(), sb.unpack(), sy->unpack()); });
    if (save_y) autograd::fill(sy, y);
  }
  return y;
}
}  // namespace

// add: da = g, db = g (each summed back to its input's shape)
Tensor add(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::add, "AddBackward", a, b, false, false,
                   [](const Tensor& g, const Tensor&, const Tensor&, const Tensor&) {
                     return TensorList{g, g};
                   });
}
// sub: da = g, db = -g
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::sub, "SubBackward", a, b, false, false,
                   [](const Tensor& g, const Tensor&, const Tensor&, const Tensor&) {
                     return TensorList{g, -g};
                   });
}
// mul: da = g b, db = g a
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::mul, "MulBackward", a, b, true, false,
                   [](const Tensor& g, const Tensor& a_, const Tensor& b_, const Tensor&) {
                     return TensorList{g * b_, g * a_};
                   });
}
// div: da = g / b, db = -g a / b^2
Tensor div(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::div, "DivBackward", a, b, true, false,
                   [](const Tensor& g, const Tensor& a_, const Tensor& b_, const Tensor&) {
                     return TensorList{g / b_, -(g * a_ / (b_ * b_))};
                   });
}
// pow: da = g b a^(b-1), db = g y log(a) (0 where a == 0, as PyTorch)
Tensor pow(const Tensor& a, const Tensor& b) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([](const Tensor& x, const Tensor& y) { return pow(x, y); }, a, b);
  return binary_op(BinaryOp::pow, "PowBackward", a, b, true, true,
                   [](const Tensor& g, const Tensor& a_, const Tensor& b_, const Tensor& y) {
                     Tensor da = g * b_ * pow(a_, b_ - 1.0);
                     Tensor db = where(ne(a_, 0), g * y * log(a_), 0);
                     return TensorList{da, db};
                   });
}
// maximum / minimum: the gradient goes to the larger (smaller) input, split evenly on ties
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::maximum, "MaximumBackward", a, b, true, true,
                   [](const Tensor& g, const Tensor& a_, const Tensor& b_, const Tensor& y) {
                     Tensor wa = (a_ > b_).to(y.dtype()) + (eq(a_, b_)).to(y.dtype()) * 0.5;
                     return TensorList{g * wa, g * (1.0 - wa)};
                   });
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::minimum, "MinimumBackward", a, b, true, true,
                   [](const Tensor& g, const Tensor& a_, const Tensor& b_, const Tensor& y) {
                     Tensor wa = (a_ < b_).to(y.dtype()) + (eq(a_, b_)).to(y.dtype()) * 0.5;
                     return TensorList{g * wa, g * (1.0 - wa)};
                   });
}

// Scalar operands become 0-dim tensors that need no gradient.
Tensor add(const Tensor& a, const Scalar& b) {
  raw::check_defined("add", a);
  return add(a, raw::scalar_like(b, a));
}
Tensor sub(const Tensor& a, const Scalar& b) {
  raw::check_defined("sub", a);
  return sub(a, raw::scalar_like(b, a));
}
Tensor sub(const Scalar& a, const Tensor& b) {
  raw::check_defined("sub", b);
  return sub(raw::scalar_like(a, b), b);
}
Tensor mul(const Tensor& a, const Scalar& b) {
  raw::check_defined("mul", a);
  return mul(a, raw::scalar_like(b, a));
}
Tensor div(const Tensor& a, const Scalar& b) {
  raw::check_defined("div", a);
  return div(a, raw::scalar_like(b, a));
}
Tensor div(const Scalar& a, const Tensor& b) {
  raw::check_defined("div", b);
  return div(raw::scalar_like(a, b), b);
}

// where: da = g where cond, db = g where !cond
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor y = raw::where(cond, a, b);
  if (needs_grad({&a, &b})) {
    SavedTensor sc(cond, false);
    record("WhereBackward", {cond, a, b}, y, [=](const TensorList& g) {
      Tensor c = sc.unpack();
      return TensorList{Tensor(), where(c, g[0], 0), where(logical_not(c), g[0], 0)};
    });
  }
  return y;
}

Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b) {
  raw::check_defined("where", a);
  return where(cond, a, raw::scalar_like(b, a));
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value) {
  raw::check_defined("masked_fill", x);
  raw::check_defined("masked_fill", mask);
  if (mask.dtype() != DType::b8)
    fail<DTypeError>("masked_fill", "mask must be a bool tensor, got ", mask.dtype(), " of shape ",
                     str(mask.sizes()));
  if (broadcast_shapes("masked_fill", x.sizes(), mask.sizes()) != x.sizes())
    fail<ShapeError>("masked_fill", "mask of shape ", str(mask.sizes()),
                     " does not broadcast to the input shape ", str(x.sizes()));
  Tensor fill = raw::empty({}, x.dtype(), x.device());
  raw::fill_(fill, value);
  return where(mask, fill, x);
}

}  // namespace ember
