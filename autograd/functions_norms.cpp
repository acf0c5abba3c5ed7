// logsumexp, linalg::vector_norm, and the logical reductions any/all.
#include <cmath>
#include <limits>

#include "autograd/autocast_policy.h"
#include "autograd/recording.h"

namespace ember {

using autograd::expand_reduced;
using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

// logsumexp = m + log(sum(exp(x - m))), m the max over dims taken as a constant (so the
// gradient is softmax(x) g, from the differentiable ops). An infinite m (a row of -inf, or
// one holding +inf) is replaced by 0: -inf rows give log(0) = -inf, +inf rows +inf.
Tensor logsumexp(const Tensor& x, const DimList& dims, bool keepdim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([&](const Tensor& t) { return logsumexp(t, dims, keepdim); }, x);
  raw::check_defined("logsumexp", x);
  const Tensor xf = is_floating(x.dtype()) ? x : x.to(DType::f32);
  const DimList wd = wrap_dims("logsumexp", dims, x.dim());
  if (xf.numel() == 0) return log(sum(exp(xf), wd, keepdim));  // -inf, as torch
  Tensor m = raw::reduce(ReduceOp::max, xf, wd, true);         // (.., 1, ..): a constant
  Tensor finite = raw::binary(BinaryOp::lt, raw::unary(UnaryOp::abs, m),
                              Scalar(std::numeric_limits<double>::infinity()));
  m = raw::where(finite, m, raw::scalar_like(0, m));
  Tensor s = log(sum(exp(xf - m), wd, keepdim));
  return s + raw::reshape(m, s.sizes());
}

namespace linalg {

// vector_norm for ord not in {0, 1, inf, -inf}: y = (sum |x|^p)^(1/p), with torch's gradient
//   dx = g x |x|^(p - 2) / y^(p - 1), and 0 where y = 0,
// written with differentiable ops (y recomputed) so double backward works.
Tensor vector_norm(const Tensor& x, double ord, const DimList& dims, bool keepdim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& t) { return vector_norm(t, ord, dims, keepdim); }, x);
  constexpr const char* op = "linalg.vector_norm";
  raw::check_defined(op, x);
  if (!is_floating(x.dtype()))
    fail<DTypeError>(op, "expected a floating input, got ", x.dtype(), " of shape ",
                     str(x.sizes()));
  if (std::isnan(ord)) fail<ValueError>(op, "ord must not be NaN");
  if (std::isinf(ord)) return ord > 0 ? amax(abs(x), dims, keepdim) : amin(abs(x), dims, keepdim);
  if (ord == 0) return raw::reduce(ReduceOp::sum, ne(x, 0).to(x.dtype()), dims, keepdim);
  if (ord == 1) return sum(abs(x), dims, keepdim);
  // bf16/f16: |x|^p and its sum in f32, the norm rounded once (torch accumulates in f32; a
  // 16-bit |x|^p overflows f16 at |x| > 256 for p = 2, and near 0 for negative p). The casts
  // are differentiable, so the gradient comes back through the f32 formula below.
  if (is_half(x.dtype())) return vector_norm(x.to(DType::f32), ord, dims, keepdim).to(x.dtype());
  const double p = ord;
  Tensor y =
      p == 2
          ? raw::unary(UnaryOp::sqrt,
                       raw::reduce(ReduceOp::sum, raw::binary(BinaryOp::mul, x, x), dims, keepdim))
          : raw::unary(UnaryOp::pow_scalar,
                       raw::reduce(ReduceOp::sum,
                                   raw::unary(UnaryOp::pow_scalar, raw::unary(UnaryOp::abs, x), p),
                                   dims, keepdim),
                       1.0 / p);
  if (needs_grad({&x})) {
    const DimList wd = wrap_dims(op, dims, x.dim());
    const Shape shape = x.sizes();
    SavedTensor sx(x, false);
    record("LinalgVectorNormBackward", {x}, y, [=](const TensorList& g) {
      Tensor x_ = sx.unpack();
      Tensor yk = vector_norm(x_, p, wd, true);  // (.., 1, ..)
      Tensor zero = eq(yk, 0);
      Tensor num = p == 2 ? x_ : x_ * pow(abs(x_), p - 2);
      Tensor den = where(zero, ones_like(yk), p == 2 ? yk : pow(yk, p - 1));
      Tensor dx = expand_reduced(g[0], shape, wd, keepdim) * num / den;
      return TensorList{where(logical_not(zero), dx, 0.0)};
    });
  }
  return y;
}

}  // namespace linalg

// any/all count the nonzero (zero) elements: NaN counts as nonzero, as in torch.
Tensor any(const Tensor& x, const DimList& dims, bool keepdim) {
  raw::check_defined("any", x);
  Tensor count = raw::reduce(ReduceOp::sum, raw::binary(BinaryOp::ne, x, Scalar(0)), dims, keepdim);
  return raw::binary(BinaryOp::gt, count, Scalar(0));
}
Tensor all(const Tensor& x, const DimList& dims, bool keepdim) {
  raw::check_defined("all", x);
  Tensor count = raw::reduce(ReduceOp::sum, raw::binary(BinaryOp::eq, x, Scalar(0)), dims, keepdim);
  return raw::binary(BinaryOp::eq, count, Scalar(0));
}

Tensor Tensor::logsumexp(const DimList& dims, bool keepdim) const {
  return ember::logsumexp(*this, dims, keepdim);
}
Tensor Tensor::any(const DimList& dims, bool keepdim) const {
  return ember::any(*this, dims, keepdim);
}
Tensor Tensor::all(const DimList& dims, bool keepdim) const {
  return ember::all(*this, dims, keepdim);
}

}  // namespace ember
