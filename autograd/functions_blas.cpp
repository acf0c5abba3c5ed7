// mm and bmm (matmul behind torch's stricter shape checks); addmm, baddbmm and outer as
// torch's, composed of matmul, mul and add, so their gradients are those ops'. beta * input + alpha
// * (m1 @ m2): with beta = 0 the input is not read (NaN and inf in it do not propagate, torch's
// rule) and gets no gradient; alpha = 1 and beta = 1 skip their multiplications, so the common case
// costs one matmul and one add.
#include "autograd/autocast_policy.h"
#include "autograd/recording.h"

namespace ember {

namespace {

// input must broadcast to `shape` without growing it (torch: "expandable to").
void check_expandable(const char* op, const Tensor& input, const Shape& shape) {
  const int64_t n = input.dim(), m = static_cast<int64_t>(shape.size());
  bool ok = n <= m;
  for (int64_t i = 1; ok && i <= n; ++i) {
    const int64_t s = input.size(n - i), t = shape[static_cast<size_t>(m - i)];
    ok = s == t || s == 1;
  }
  if (!ok)
    fail<ShapeError>(op, "input of shape ", str(input.sizes()),
                     " cannot be broadcast to the product's shape ", str(shape));
}

Tensor scaled_sum(const char* op, const Tensor& input, const Tensor& product, const Scalar& beta,
                  const Scalar& alpha) {
  check_expandable(op, input, product.sizes());
  Tensor p = alpha.to_double() == 1.0 ? product : product * alpha;
  if (beta.to_double() == 0.0) return p;
  Tensor c = beta.to_double() == 1.0 ? input : input * beta;
  return p + c;
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  raw::check_defined("mm", a);
  raw::check_defined("mm", b);
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(0))
    fail<ShapeError>("mm", "needs matrices (n, m) and (m, p), got ", str(a.sizes()), " and ",
                     str(b.sizes()));
  return matmul(a, b);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  raw::check_defined("bmm", a);
  raw::check_defined("bmm", b);
  if (a.dim() != 3 || b.dim() != 3 || a.size(0) != b.size(0) || a.size(2) != b.size(1))
    fail<ShapeError>("bmm", "needs batches (b, n, m) and (b, m, p), got ", str(a.sizes()), " and ",
                     str(b.sizes()));
  return matmul(a, b);
}

Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, const Scalar& beta,
             const Scalar& alpha) {
  if (autocast_policy::active())  // autocast: lower precision
    return autocast_policy::lower_precision(
        [&](const Tensor& i, const Tensor& m1, const Tensor& m2) {
          return addmm(i, m1, m2, beta, alpha);
        },
        input, mat1, mat2);
  raw::check_defined("addmm", input);
  raw::check_defined("addmm", mat1);
  raw::check_defined("addmm", mat2);
  if (mat1.dim() != 2 || mat2.dim() != 2 || mat1.size(1) != mat2.size(0))
    fail<ShapeError>("addmm", "needs matrices (n, m) and (m, p), got mat1 ", str(mat1.sizes()),
                     " and mat2 ", str(mat2.sizes()));
  return scaled_sum("addmm", input, matmul(mat1, mat2), beta, alpha);
}

Tensor baddbmm(const Tensor& input, const Tensor& batch1, const Tensor& batch2, const Scalar& beta,
               const Scalar& alpha) {
  if (autocast_policy::active())  // autocast: lower precision
    return autocast_policy::lower_precision(
        [&](const Tensor& i, const Tensor& b1, const Tensor& b2) {
          return baddbmm(i, b1, b2, beta, alpha);
        },
        input, batch1, batch2);
  raw::check_defined("baddbmm", input);
  raw::check_defined("baddbmm", batch1);
  raw::check_defined("baddbmm", batch2);
  if (batch1.dim() != 3 || batch2.dim() != 3 || batch1.size(0) != batch2.size(0) ||
      batch1.size(2) != batch2.size(1))
    fail<ShapeError>("baddbmm", "needs batches (b, n, m) and (b, m, p), got batch1 ",
                     str(batch1.sizes()), " and batch2 ", str(batch2.sizes()));
  return scaled_sum("baddbmm", input, matmul(batch1, batch2), beta, alpha);
}

Tensor outer(const Tensor& a, const Tensor& b) {
  raw::check_defined("outer", a);
  raw::check_defined("outer", b);
  if (a.dim() != 1 || b.dim() != 1)
    fail<ShapeError>("outer", "needs two 1-D tensors, got shapes ", str(a.sizes()), " and ",
                     str(b.sizes()));
  return a.unsqueeze(1) * b.unsqueeze(0);
}

}  // namespace ember
