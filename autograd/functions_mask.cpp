// Boolean-mask selection and index assignment, built on index_select and scatter_add (whose
// derivative rules carry the gradients: masked_select's back to x's positions, index_put's
// to the values gathered and to x with the written positions zeroed).
#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "autograd/recording.h"

namespace ember {

namespace {

// The flat positions (i64, ascending) of the true elements of a contiguous bool (B) mask,
// on its device: slot c - 1 of each true element, c the inclusive count of trues, collects
// its position (the false ones all go to a spare slot n). Reads n back to the host.
Tensor true_positions(const Tensor& mask) {
  const int64_t B = mask.numel();
  const TensorOptions i64{.dtype = DType::i64, .device = mask.device()};
  Tensor count = raw::scan(ScanOp::sum, mask, 0);  // (B)
  const int64_t n = raw::select(count, 0, B - 1).item<int64_t>();
  Tensor slot =
      raw::where(mask, raw::binary(BinaryOp::sub, count, Scalar(1)), raw::scalar_like(n, count));
  Tensor pos = raw::scatter_add(zeros({n + 1}, i64), 0, slot, arange(B, i64));
  return raw::slice(pos, 0, 0, n, 1);
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  raw::check_defined(op, b);
  raw::check_same_device(op, a, b);
}

}  // namespace

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  constexpr const char* op = "masked_select";
  raw::check_defined(op, x);
  check_same_device(op, x, mask);
  if (mask.dtype() != DType::b8)
    fail<DTypeError>(op, "mask must be a bool tensor, got ", mask.dtype(), " of shape ",
                     str(mask.sizes()));
  const Shape shape = broadcast_shapes(op, x.sizes(), mask.sizes());
  Tensor flat = x.expand(shape).reshape({-1});  // (B), differentiable
  if (flat.numel() == 0) return flat;
  Tensor m = raw::reshape(raw::contiguous(raw::expand(mask, shape)), {-1});  // (B)
  return index_select(flat, 0, true_positions(m));
}

namespace {

// Turns the user's index list into one i64 tensor per indexed dim: a bool mask over k dims
// becomes the k coordinate tensors of its true elements (read on the host, as torch's
// nonzero); negative indices wrap; each is checked against its dim.
std::vector<Tensor> index_tensors(const char* op, const Tensor& x,
                                  const std::vector<Tensor>& indices) {
  std::vector<Tensor> out;
  for (size_t n = 0; n < indices.size(); ++n) {
    const Tensor& t = indices[n];
    check_same_device(op, x, t);
    const auto dim = static_cast<int64_t>(out.size());
    if (t.dtype() == DType::b8) {
      if (t.dim() == 0) fail<IndexError>(op, "a 0-dim bool index is not supported (index ", n, ")");
      if (dim + t.dim() > x.dim())
        fail<IndexError>(op, "too many indices for a tensor of shape ", str(x.sizes()));
      const Shape part(x.sizes().begin() + dim, x.sizes().begin() + dim + t.dim());
      if (t.sizes() != part)
        fail<IndexError>(op, "the bool mask of shape ", str(t.sizes()), " at index ", n,
                         " does not match the indexed dims ", str(part), " of shape ",
                         str(x.sizes()));
      const std::vector<bool> host = t.to_vector<bool>();
      std::vector<std::vector<int64_t>> coords(static_cast<size_t>(t.dim()));
      for (size_t flat = 0; flat < host.size(); ++flat) {
        if (!host[flat]) continue;
        auto rest = static_cast<int64_t>(flat);
        for (int64_t j = t.dim() - 1; j >= 0; --j) {
          coords[static_cast<size_t>(j)].push_back(rest % part[static_cast<size_t>(j)]);
          rest /= part[static_cast<size_t>(j)];
        }
      }
      for (auto& c : coords) out.push_back(from_vector(c, x.device()));
      continue;
    }
    if (t.dtype() != DType::i64)
      fail<IndexError>(op, "tensors used as indices must be i64 or bool, got ", t.dtype(),
                       " at index ", n);
    if (dim >= x.dim())
      fail<IndexError>(op, "too many indices for a tensor of shape ", str(x.sizes()));
    const int64_t size = x.sizes()[static_cast<size_t>(dim)];
    Tensor wrapped = raw::contiguous(raw::where(raw::binary(BinaryOp::lt, t, Scalar(0)),
                                                raw::binary(BinaryOp::add, t, Scalar(size)), t));
    raw::check_index_range(op, wrapped, size, std::numeric_limits<int64_t>::min());
    out.push_back(wrapped);
  }
  return out;
}

// Of repeated targets keep the last (the value a serial x[i] = v loop leaves): the positions
// to keep, or an undefined tensor when every target is distinct. Reads them to the host.
Tensor last_of_each(const Tensor& lin) {
  const std::vector<int64_t> host = lin.to_vector<int64_t>();
  std::vector<std::pair<int64_t, int64_t>> order;  // (target, position)
  order.reserve(host.size());
  for (size_t i = 0; i < host.size(); ++i) order.emplace_back(host[i], static_cast<int64_t>(i));
  std::sort(order.begin(), order.end());
  std::vector<int64_t> keep;
  for (size_t i = 0; i < order.size(); ++i)
    if (i + 1 == order.size() || order[i + 1].first != order[i].first)
      keep.push_back(order[i].second);
  if (keep.size() == host.size()) return Tensor();
  std::sort(keep.begin(), keep.end());
  return from_vector(keep, lin.device());
}

}  // namespace

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate) {
  constexpr const char* op = "index_put";
  raw::check_defined(op, x);
  check_same_device(op, x, values);
  if (indices.empty()) fail<IndexError>(op, "needs at least one index tensor");
  if (values.dtype() != x.dtype())
    fail<DTypeError>(op, "values of dtype ", values.dtype(), " cannot be put into a ", x.dtype(),
                     " tensor; the dtypes must match");
  const std::vector<Tensor> idx = index_tensors(op, x, indices);
  const auto k = static_cast<int64_t>(idx.size());
  Shape b = idx[0].sizes();  // the broadcast index shape B
  for (const Tensor& t : idx) b = broadcast_shapes(op, b, t.sizes());
  // lin (B): the row of x viewed as (L, R), L the indexed dims, R the rest.
  int64_t L = 1, R = 1;
  for (int64_t d = 0; d < x.dim(); ++d) (d < k ? L : R) *= x.sizes()[static_cast<size_t>(d)];
  Tensor lin = zeros(b, {.dtype = DType::i64, .device = x.device()});
  int64_t stride = 1;
  for (int64_t j = k - 1; j >= 0; --j) {
    lin = raw::binary(BinaryOp::add, lin,
                      raw::binary(BinaryOp::mul, idx[static_cast<size_t>(j)], Scalar(stride)));
    stride *= x.sizes()[static_cast<size_t>(j)];
  }
  Shape v_shape = b;  // B + x's remaining dims
  v_shape.insert(v_shape.end(), x.sizes().begin() + k, x.sizes().end());
  if (broadcast_shapes(op, values.sizes(), v_shape) != v_shape)
    fail<ShapeError>(op, "values of shape ", str(values.sizes()),
                     " cannot be broadcast to the indexing result of shape ", str(v_shape));
  const int64_t nb = numel(b);
  if (nb == 0 || R == 0) return x.clone();
  lin = raw::reshape(raw::contiguous(lin), {nb});
  Tensor v = values.expand(v_shape).reshape({nb, R});  // (nB, R), differentiable
  Tensor xf = x.reshape({L, R});
  if (!accumulate) {
    if (Tensor keep = last_of_each(lin); keep.defined()) {
      lin = raw::index_select(lin, 0, keep);
      v = index_select(v, 0, keep);
    }
    Tensor hit = raw::scatter_add(zeros({L}, {.dtype = DType::i64, .device = x.device()}), 0, lin,
                                  ones({lin.numel()}, {.dtype = DType::i64, .device = x.device()}));
    xf = masked_fill(xf, raw::unsqueeze(raw::binary(BinaryOp::gt, hit, Scalar(0)), 1), 0);
  }
  Tensor rows = raw::contiguous(raw::expand(raw::unsqueeze(lin, 1), {lin.numel(), R}));
  return scatter_add(xf, 0, rows, v).reshape(x.sizes());
}

Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate) {
  return x.copy_(index_put(x, indices, values, accumulate));
}

Tensor Tensor::masked_select(const Tensor& mask) const { return ember::masked_select(*this, mask); }
Tensor Tensor::index_put(const std::vector<Tensor>& indices, const Tensor& values,
                         bool accumulate) const {
  return ember::index_put(*this, indices, values, accumulate);
}
Tensor& Tensor::index_put_(const std::vector<Tensor>& indices, const Tensor& values,
                           bool accumulate) {
  return ember::index_put_(*this, indices, values, accumulate);
}

}  // namespace ember
