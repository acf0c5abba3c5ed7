// Elementwise ops: dtype promotion, broadcasting, then one backend call.
#include <algorithm>
#include <cmath>

#include "tensor/backend.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

// Refuses an output that writes one memory location from several elements.
void check_no_internal_overlap(const char* op, const Tensor& dst) {
  for (int64_t i = 0; i < dst.dim(); ++i)
    if (dst.strides()[i] == 0 && dst.sizes()[i] > 1)
      fail<ValueError>(op, "cannot write in place into an expanded tensor of shape ",
                       str(dst.sizes()), " (several elements share one memory location)");
}

// x viewed with the (broadcast) shape, or x itself when it has that shape already: the
// backends take either, and a small op is spared building a view.
Tensor expand_to(const Tensor& x, const Shape& shape) {
  return x.sizes() == shape ? x : expand(x, shape);
}

// clamp's bounds for an i64 input as the backends take them (tensor/backend_args.h): a bound
// every i64 value passes becomes infinite, the others integral and inside the i64 range,
// so the kernels' conversion to i64 is always defined.
void integer_clamp_bounds(double& lo, double& hi) {
  constexpr double kTwo63 = 9223372036854775808.0;
  constexpr double kBelowTwo63 = 9223372036854774784.0;  // the largest double < 2^63
  if (std::isnan(lo) || std::isnan(hi))
    fail<ValueError>("clamp", "a NaN bound needs a floating input, got an integer tensor");
  lo = lo <= -kTwo63 ? -INFINITY : std::min(std::ceil(lo), kBelowTwo63);
  hi = hi >= kTwo63 ? INFINITY : std::max(std::floor(hi), -kTwo63);
}

}  // namespace

DType unary_result_dtype(UnaryOp op, DType in) {
  if (op == UnaryOp::logical_not) return DType::b8;
  if (is_float_only(op)) return is_floating(in) ? in : DType::f32;
  if (in == DType::b8 && op != UnaryOp::sign && op != UnaryOp::pow_scalar)
    fail<DTypeError>(to_string(op), "is not defined for bool tensors");
  return in;
}

Tensor unary(UnaryOp op, const Tensor& x, double arg, double arg2) {
  const char* name = to_string(op);
  const profiler::OpScope profile(name);
  check_defined(name, x);
  DType out_dtype = unary_result_dtype(op, x.dtype());
  Tensor in = cast(x, op == UnaryOp::logical_not ? DType::b8 : out_dtype);
  Tensor out = empty(x.sizes(), out_dtype, x.device());
  if (op == UnaryOp::clamp && !is_floating(out_dtype)) integer_clamp_bounds(arg, arg2);
  if (out.numel() > 0) backend(x.device()).unary(op, out, in, arg, arg2);
  return out;
}

DType binary_result_dtype(BinaryOp op, DType a, DType b) {
  if (is_comparison(op) || op == BinaryOp::logical_and || op == BinaryOp::logical_or)
    return DType::b8;
  DType common = promote_types(a, b);
  if (op == BinaryOp::div && !is_floating(common)) return DType::f32;
  if (op == BinaryOp::sub && common == DType::b8)
    fail<DTypeError>("sub",
                     "subtracting two bool tensors is not supported; use logical_xor-like ops");
  return common;
}

namespace {
int category(DType t) { return t == DType::b8 ? 0 : is_floating(t) ? 2 : 1; }
}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote_types(a.dtype(), b.dtype());
  DType dimmed = a0 ? b.dtype() : a.dtype(), zero = a0 ? a.dtype() : b.dtype();
  return category(zero) > category(dimmed) ? promote_types(dimmed, zero) : dimmed;
}

namespace {
// The dtype both inputs are cast to before the backend sees them.
DType compute_dtype(BinaryOp op, DType a, DType b) {
  if (op == BinaryOp::logical_and || op == BinaryOp::logical_or) return DType::b8;
  if (is_comparison(op)) return promote_types(a, b);
  return binary_result_dtype(op, a, b);
}
}  // namespace

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = to_string(op);
  const profiler::OpScope profile(name);
  check_defined(name, a);
  check_defined(name, b);
  check_same_device(name, a, b);
  // The common case first: operands of one dtype and shape need no promotion or broadcast.
  if (a.dtype() == b.dtype() && a.sizes() == b.sizes()) {
    const DType dt = a.dtype(), ct = compute_dtype(op, dt, dt);
    Tensor out = empty(a.sizes(), binary_result_dtype(op, dt, dt), a.device());
    if (out.numel() == 0) return out;
    if (ct == dt) {
      backend(a.device()).binary(op, out, a, b);  // no handle copies (each an atomic count)
    } else {
      backend(a.device()).binary(op, out, cast(a, ct), cast(b, ct));
    }
    return out;
  }
  // Promotion as torch.result_type: both operands are seen as if of the result type.
  DType common = result_type(a, b);
  DType out_dtype = binary_result_dtype(op, common, common);
  DType ct = compute_dtype(op, common, common);
  Tensor out = empty(broadcast_shapes(name, a.sizes(), b.sizes()), out_dtype, a.device());
  if (out.numel() == 0) return out;
  const Shape& shape = out.sizes();
  backend(a.device()).binary(op, out, expand_to(cast(a, ct), shape), expand_to(cast(b, ct), shape));
  return out;
}

Tensor scalar_like(const Scalar& value, const Tensor& x) {
  DType dt = x.dtype();
  if (value.is_floating() && !is_floating(dt)) {
    dt = DType::f32;
  } else if (value.kind() == Scalar::Kind::integer && dt == DType::b8) {
    dt = DType::i64;
  }
  Tensor s = empty({}, dt, x.device());
  backend(x.device()).fill(s, value);
  return s;
}

Tensor binary(BinaryOp op, const Tensor& a, const Scalar& b) {
  const profiler::OpScope profile(to_string(op));
  check_defined(to_string(op), a);
  return binary(op, a, scalar_like(b, a));
}

Tensor binary(BinaryOp op, const Scalar& a, const Tensor& b) {
  const profiler::OpScope profile(to_string(op));
  check_defined(to_string(op), b);
  return binary(op, scalar_like(a, b), b);
}

void binary_(BinaryOp op, const Tensor& a, const Tensor& b) {
  const profiler::OpScope profile(to_string(op), true);
  std::string name = std::string(to_string(op)) + "_";
  check_defined(name.c_str(), a);
  check_defined(name.c_str(), b);
  check_same_device(name.c_str(), a, b);
  check_no_internal_overlap(name.c_str(), a);
  // As PyTorch's canCast: the result may narrow within its category, not leave it.
  DType result = binary_result_dtype(op, a.dtype(), b.dtype());
  if (category(result) > category(a.dtype()))
    fail<DTypeError>(name, "result dtype ", result, " cannot be stored in place into a ", a.dtype(),
                     " tensor");
  if (broadcast_shapes(name, a.sizes(), b.sizes()) != a.sizes())
    fail<ShapeError>(name, "operand of shape ", str(b.sizes()),
                     " does not broadcast to the in-place target shape ", str(a.sizes()));
  if (a.numel() == 0) return;
  Tensor rhs = cast(b, a.dtype());
  // A right-hand side that reads memory this op writes, in another layout, is copied first.
  if (rhs.storage() == a.storage() &&
      (rhs.strides() != a.strides() || rhs.storage_offset() != a.storage_offset()))
    rhs = clone(rhs);
  backend(a.device()).binary(op, a, a, expand_to(rhs, a.sizes()));
  a.bump_version();
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const profiler::OpScope profile("where");
  check_defined("where", cond);
  check_defined("where", a);
  check_defined("where", b);
  if (cond.dtype() != DType::b8)
    fail<DTypeError>("where", "condition must be a bool tensor, got ", cond.dtype(), " of shape ",
                     str(cond.sizes()));
  check_same_device("where", cond, a);
  check_same_device("where", a, b);
  Shape shape =
      broadcast_shapes("where", broadcast_shapes("where", cond.sizes(), a.sizes()), b.sizes());
  DType dt = result_type(a, b);
  Tensor out = empty(shape, dt, a.device());
  if (out.numel() == 0) return out;
  backend(a.device())
      .where(out, expand_to(cond, shape), expand_to(cast(a, dt), shape),
             expand_to(cast(b, dt), shape));
  return out;
}

}  // namespace ember::raw
