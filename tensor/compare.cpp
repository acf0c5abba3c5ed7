// Comparisons and logic: bool results, never differentiable, so they live in tensor/.
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember {

Tensor eq(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::ge, a, b); }
Tensor eq(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::ge, a, b); }
Tensor logical_not(const Tensor& x) { return raw::unary(UnaryOp::logical_not, x); }
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return raw::binary(BinaryOp::logical_and, a, b);
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return raw::binary(BinaryOp::logical_or, a, b);
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return std::get<1>(raw::max_min(x, dim, keepdim, true, "argmax"));
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return std::get<1>(raw::max_min(x, dim, keepdim, false, "argmin"));
}

}  // namespace ember
