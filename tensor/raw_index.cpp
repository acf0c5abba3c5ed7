// Joining and indexing: cat, index_select, gather, scatter_add, triangular masks.
#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {
void check_index_dtype(const char* op, const Tensor& index) {
  if (index.dtype() != DType::i64)
    fail<DTypeError>(op, "index must be an i64 tensor, got ", index.dtype(), " of shape ",
                     str(index.sizes()));
}
}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  const profiler::OpScope profile("cat");
  if (tensors.empty()) fail<ValueError>("cat", "expected a non-empty list of tensors");
  for (const Tensor& t : tensors) check_defined("cat", t);
  const Tensor& first = tensors.front();
  if (first.dim() == 0) fail<ShapeError>("cat", "zero-dim tensors cannot be concatenated");
  int64_t d = wrap_dim("cat", dim, first.dim());
  DType dt = first.dtype();
  Shape shape = first.sizes();
  shape[d] = 0;
  for (const Tensor& t : tensors) {
    check_same_device("cat", first, t);
    bool fits = t.dim() == first.dim();
    for (int64_t i = 0; fits && i < t.dim(); ++i) fits = i == d || t.sizes()[i] == first.sizes()[i];
    if (!fits)
      fail<ShapeError>("cat", "shapes ", str(first.sizes()), " and ", str(t.sizes()),
                       " differ outside dim ", d);
    dt = promote_types(dt, t.dtype());
    shape[d] += t.sizes()[d];
  }
  Tensor out = empty(shape, dt, first.device());
  Backend& be = backend(first.device());
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    int64_t n = t.sizes()[d];
    if (n > 0 && t.numel() > 0) be.copy(slice(out, d, offset, offset + n, 1), t);
    offset += n;
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const profiler::OpScope profile("index_select");
  check_defined("index_select", x);
  check_defined("index_select", index);
  check_same_device("index_select", x, index);
  check_index_dtype("index_select", index);
  if (index.dim() > 1)
    fail<ShapeError>("index_select", "index must be 0-dim or 1-dim, got shape ",
                     str(index.sizes()));
  if (x.dim() == 0) {
    wrap_dim("index_select", dim, 0);
    return reshape(raw::index_select(reshape(x, {1}), 0, index),
                   index.dim() == 0 ? Shape{} : Shape{index.numel()});
  }
  int64_t d = wrap_dim("index_select", dim, x.dim());
  Shape shape = x.sizes();
  shape[d] = index.numel();
  Tensor out = empty(shape, x.dtype(), x.device());
  if (index.numel() > 0 && x.sizes()[d] == 0)
    fail<IndexError>("index_select", "cannot select from dim ", d, " of size 0 (shape ",
                     str(x.sizes()), ")");
  if (out.numel() > 0)
    backend(x.device()).index_select(out, x, d, contiguous(reshape(index, {-1})));
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  const profiler::OpScope profile("gather");
  check_defined("gather", x);
  check_defined("gather", index);
  check_same_device("gather", x, index);
  check_index_dtype("gather", index);
  int64_t d = wrap_dim("gather", dim, x.dim());
  if (index.dim() != x.dim())
    fail<ShapeError>("gather", "index shape ", str(index.sizes()), " and input shape ",
                     str(x.sizes()), " need the same number of dims");
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i != d && index.sizes()[i] > x.sizes()[i])
      fail<ShapeError>("gather", "index shape ", str(index.sizes()), " is larger than input shape ",
                       str(x.sizes()), " in dim ", i);
  Tensor out = empty(index.sizes(), x.dtype(), x.device());
  if (out.numel() > 0) backend(x.device()).gather(out, x, d, index);
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  const profiler::OpScope profile("scatter_add");
  check_defined("scatter_add", x);
  check_defined("scatter_add", index);
  check_defined("scatter_add", src);
  check_same_device("scatter_add", x, index);
  check_same_device("scatter_add", x, src);
  check_index_dtype("scatter_add", index);
  if (src.dtype() != x.dtype())
    fail<DTypeError>("scatter_add", "src dtype ", src.dtype(), " differs from self dtype ",
                     x.dtype());
  int64_t d = wrap_dim("scatter_add", dim, x.dim());
  if (index.dim() != x.dim() || src.dim() != x.dim())
    fail<ShapeError>("scatter_add", "self ", str(x.sizes()), ", index ", str(index.sizes()),
                     " and src ", str(src.sizes()), " need the same number of dims");
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (index.sizes()[i] > src.sizes()[i] || (i != d && index.sizes()[i] > x.sizes()[i]))
      fail<ShapeError>("scatter_add", "index shape ", str(index.sizes()), " is larger than src ",
                       str(src.sizes()), " or self ", str(x.sizes()), " in dim ", i);
  }
  Tensor out = clone(x);
  if (index.numel() > 0) backend(x.device()).scatter_add(out, d, index, src);
  return out;
}

Tensor tril_mask(int64_t rows, int64_t cols, int64_t diagonal, bool upper, Device device) {
  const profiler::OpScope profile(upper ? "triu" : "tril");
  TensorOptions opts{.dtype = DType::i64, .device = device};
  Tensor r = unsqueeze(arange(rows, opts), 1);  // (rows, 1)
  Tensor c = unsqueeze(arange(cols, opts), 0);  // (1, cols)
  Tensor diff = binary(BinaryOp::sub, c, r);    // (rows, cols): col - row
  return binary(upper ? BinaryOp::ge : BinaryOp::le, diff, Scalar(diagonal));
}

void check_index_range(const char* op, const Tensor& index, int64_t bound, int64_t ignore) {
  check_defined(op, index);
  if (index.dtype() != DType::i64) fail<DTypeError>(op, "indices must be i64, got ", index.dtype());
  if (index.numel() == 0) return;
  backend(index.device()).check_index_range(op, contiguous(index), bound, ignore);
}

}  // namespace ember::raw
