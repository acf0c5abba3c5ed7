// Differentiable scans: cumsum and cumprod along one dim.
#include "autograd/autocast_policy.h"
#include "autograd/recording.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

// A running sum (reverse: the suffix sum) along dim. Its gradient is the opposite scan
// of g (dx_k = sum_{i >= k} g_i), itself differentiable, so double backward works.
Tensor scan_sum(const Tensor& x, int64_t dim, bool reverse) {
  Tensor y = raw::scan(ScanOp::sum, x, dim, reverse);
  if (needs_grad({&x}))
    record(reverse ? "CumsumReverseBackward" : "CumsumBackward", {x}, y,
           [=](const TensorList& g) { return TensorList{scan_sum(g[0], dim, !reverse)}; });
  return y;
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([dim](const Tensor& t) { return cumsum(t, dim); }, x);
  return scan_sum(x, dim, false);
}

// cumprod: dx_k = sum_{i >= k} g_i prod_{j <= i, j != k} x_j, along each line. With z the
// line's first zero, x' = x with x_z = 1 and rcumsum the suffix sum:
//   k < z:  rcumsum(g y)_k / x_k                  (x_k != 0 there)
//   k = z:  rcumsum(g cumprod(x'))_z              (x_z's own factor left out)
//   k > z:  x_z rcumsum(g cumprod(x'))_k / x_k    (0, but x_z's factor kept for double
//           backward; a second zero at k itself gets 0 and no second derivative)
// Written with differentiable ops, so double backward works (but as said at second zeros).
Tensor cumprod(const Tensor& x, int64_t dim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([dim](const Tensor& t) { return cumprod(t, dim); }, x);
  Tensor y = raw::scan(ScanOp::prod, x, dim);
  if (needs_grad({&x})) {
    const int64_t d = wrap_dim("cumprod", dim, x.dim());
    SavedTensor sx(x, false);
    record("CumprodBackward", {x}, y, [=](const TensorList& g) {
      Tensor x_ = sx.unpack();
      Tensor is_zero = eq(x_, 0);
      Tensor zeros_so_far = raw::scan(ScanOp::sum, is_zero, d);  // i64, inclusive
      Tensor before = eq(zeros_so_far, 0);
      Tensor first = logical_and(is_zero, eq(zeros_so_far, 1));
      Tensor after = logical_and(logical_not(before), logical_not(is_zero));
      Tensor ones = ones_like(x_);
      Tensor dx =
          where(before, scan_sum(g[0] * cumprod(x_, d), d, true) / where(before, x_, ones), 0.0);
      Tensor t = scan_sum(g[0] * cumprod(where(first, ones, x_), d), d, true);
      Tensor x_z = sum(where(first, x_, 0.0), {d}, true);  // 0, with x_z's graph
      dx = dx + where(first, t, 0.0) + where(after, x_z * t / where(after, x_, ones), 0.0);
      return TensorList{dx};
    });
  }
  return y;
}

Tensor Tensor::cumsum(int64_t dim) const { return ember::cumsum(*this, dim); }
Tensor Tensor::cumprod(int64_t dim) const { return ember::cumprod(*this, dim); }

}  // namespace ember
