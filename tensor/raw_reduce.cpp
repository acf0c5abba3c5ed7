// Reductions: move the reduced dims last, view as (rows, reduced), one backend call.
#include <vector>

#include "tensor/backend.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

struct ReducePlan {
  Tensor rows;      // (R, K) contiguous, in the dtype the backend reduces in
  Shape out_shape;  // the result's shape (with 1s when keepdim)
  int64_t K = 1;
};

ReducePlan plan_reduce(const char* op, const Tensor& x, const DimList& dims, bool keepdim,
                       DType dtype) {
  int64_t n = x.dim();
  DimList red = wrap_dims(op, dims, n);
  std::vector<bool> is_red(n, false);
  for (int64_t d : red) is_red[d] = true;
  DimList perm;
  Shape out_shape;
  int64_t R = 1, K = 1;
  for (int64_t d = 0; d < n; ++d) {
    if (is_red[d]) {
      if (keepdim) out_shape.push_back(1);
      K *= x.sizes()[d];
    } else {
      perm.push_back(d);
      out_shape.push_back(x.sizes()[d]);
      R *= x.sizes()[d];
    }
  }
  for (int64_t d : red) perm.push_back(d);
  Tensor rows = contiguous(permute(cast(x, dtype), perm));
  return {as_strided(rows, {R, K}, {K, 1}, rows.storage_offset()), out_shape, K};
}

}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, const DimList& dims, bool keepdim, int64_t correction) {
  const char* name = to_string(op);
  const profiler::OpScope profile(name);
  check_defined(name, x);
  DType dt = x.dtype();
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::prod:
      if (is_integral(dt)) dt = DType::i64;  // bool, u8, i8, i32 sum to i64 as in torch
      break;
    case ReduceOp::mean:
    case ReduceOp::var:
      if (!is_floating(dt))
        fail<DTypeError>(name, "needs a floating-point input, got ", dt, " of shape ",
                         str(x.sizes()), "; cast it with .to(DType::f32) first");
      break;
    case ReduceOp::max:
    case ReduceOp::min: break;
  }
  if (correction < 0) fail<ValueError>(name, "correction must be >= 0, got ", correction);
  // A floating sum over trailing dims and some leading ones (a bias gradient: dims 0, 2, 3
  // of (N, C, H, W)) runs in two steps, the trailing dims first, so the contiguous input is
  // read in place instead of being permuted into a copy.
  // (Not for bf16/f16: the partial sums would be rounded to 16 bits in between.)
  if (op == ReduceOp::sum && is_floating(dt) && !is_half(dt) && x.dtype() == dt &&
      x.is_contiguous()) {
    const int64_t n = x.dim();
    const DimList red = wrap_dims(name, dims, n);
    std::vector<bool> is_red(static_cast<size_t>(n), false);
    for (int64_t d : red) is_red[static_cast<size_t>(d)] = true;
    int64_t t = n, tail = 1;
    while (t > 0 && is_red[static_cast<size_t>(t - 1)]) tail *= x.sizes()[static_cast<size_t>(--t)];
    if (t > 0 && t<n&& static_cast<int64_t>(red.size())> n - t && tail >= 16) {
      DimList tail_dims, head_dims;
      for (int64_t d : red) (d >= t ? tail_dims : head_dims).push_back(d);
      Tensor r =
          reduce(op, reduce(op, x, tail_dims, false, correction), head_dims, false, correction);
      if (!keepdim) return r;
      Shape kept;
      for (int64_t d = 0; d < n; ++d)
        kept.push_back(is_red[static_cast<size_t>(d)] ? 1 : x.sizes()[static_cast<size_t>(d)]);
      return as_strided(r, kept, contiguous_strides(kept), r.storage_offset());
    }
  }
  // A sum or mean over the leading dims of a contiguous input (Linear's bias gradient: dims
  // 0, 1 of a (B, T, N) gradient) goes to the backend as the (R, K) view with strides (1, R),
  // columns contiguous, and is summed down the columns in place: permuting the reduced dims
  // last would copy the whole input first (issue 19, gptstep).
  if ((op == ReduceOp::sum || op == ReduceOp::mean) && x.dtype() == dt && !is_half(dt) &&
      x.is_contiguous()) {
    const DimList red = wrap_dims(name, dims, x.dim());
    const auto lead = static_cast<int64_t>(red.size());
    if (lead > 0 && lead < x.dim() && red.back() == lead - 1) {
      int64_t K = 1, R = 1;
      Shape out_shape;
      for (int64_t d = 0; d < x.dim(); ++d) {
        const int64_t size = x.sizes()[static_cast<size_t>(d)];
        if (d < lead) {
          K *= size;
          if (keepdim) out_shape.push_back(1);
        } else {
          R *= size;
          out_shape.push_back(size);
        }
      }
      Tensor out = empty({R}, dt, x.device());
      const Tensor columns = as_strided(x, {R, K}, {1, R}, x.storage_offset());
      if (R > 0) backend(x.device()).reduce(op, out, Tensor(), columns, correction);
      return as_strided(out, out_shape, contiguous_strides(out_shape), 0);
    }
  }
  ReducePlan p = plan_reduce(name, x, dims, keepdim, dt);
  if (p.K == 0 && (op == ReduceOp::max || op == ReduceOp::min) && p.rows.size(0) > 0)
    fail<ShapeError>(name, "cannot reduce over a zero-size dim of shape ", str(x.sizes()),
                     ": the result has no identity");
  Tensor out = empty({p.rows.size(0)}, dt, x.device());
  if (out.numel() > 0) backend(x.device()).reduce(op, out, Tensor(), p.rows, correction);
  return as_strided(out, p.out_shape, contiguous_strides(p.out_shape), 0);
}

std::tuple<Tensor, Tensor> max_min(const Tensor& x, int64_t dim, bool keepdim, bool is_max,
                                   const char* op_name) {
  const char* name = op_name != nullptr ? op_name : is_max ? "max" : "min";
  const profiler::OpScope profile(name);
  check_defined(name, x);
  int64_t d = wrap_dim(name, dim, x.dim());
  if (x.dim() > 0 && x.sizes()[d] == 0)
    fail<ShapeError>(name, "cannot reduce over dim ", d, " of size 0 (shape ", str(x.sizes()), ")");
  ReducePlan p = plan_reduce(name, x, {d}, keepdim, x.dtype());
  Tensor values = empty({p.rows.size(0)}, x.dtype(), x.device());
  Tensor indices = empty({p.rows.size(0)}, DType::i64, x.device());
  if (values.numel() > 0)
    backend(x.device()).reduce(is_max ? ReduceOp::max : ReduceOp::min, values, indices, p.rows, 0);
  Strides st = contiguous_strides(p.out_shape);
  return {as_strided(values, p.out_shape, st, 0), as_strided(indices, p.out_shape, st, 0)};
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined("sum_to", x);
  if (x.sizes() == shape) return x;
  int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  if (lead < 0)
    fail<ShapeError>("sum_to", "cannot sum shape ", str(x.sizes()), " to a larger shape ",
                     str(shape));
  DimList dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && x.sizes()[d] != 1) {
      dims.push_back(d);
    } else if (shape[d - lead] != x.sizes()[d]) {
      fail<ShapeError>("sum_to", "shape ", str(x.sizes()), " does not broadcast from ", str(shape));
    }
  }
  if (dims.empty()) return view(x, shape);
  return reshape(reduce(ReduceOp::sum, x, dims, true), shape);
}

}  // namespace ember::raw
