// Differentiable views, copies, joins and indexing, and the in-place ops.
#include <algorithm>
#include <numeric>

#include "autograd/recording.h"
#include "tensor/pinned_memory.h"
#include "tensor/profiler.h"

namespace ember {

using autograd::GradMode;
using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

// Records a view (or reshape) whose gradient is rule(g).
template <typename Rule>
Tensor view_op(const char* node, const Tensor& x, Tensor y, Rule rule) {
  if (needs_grad({&x})) {
    record(node, {x}, y, [rule](const TensorList& g) { return TensorList{rule(g[0])}; });
    if (y.storage() == x.storage()) autograd::mark_view(y);
  }
  return y;
}

// The gradient of x.slice(...): zeros of x's shape with g written into the slice.
// Differentiable in g (its own gradient slices again), for double backward.
Tensor slice_backward(const Tensor& g, const Shape& shape, int64_t dim, int64_t start, int64_t end,
                      int64_t step) {
  Tensor out = raw::empty(shape, g.dtype(), g.device());
  // With step 1 only the complement of the slice is zeroed, not what the copy overwrites
  // (issue 19: the pieces of the GPT's qkv split each zeroed the whole (B, T, 3C)).
  if (step == 1) {
    if (std::min(start, end) > 0) raw::fill_(raw::slice(out, dim, 0, std::min(start, end), 1), 0);
    if (end < shape[static_cast<size_t>(dim)])
      raw::fill_(raw::slice(out, dim, end, shape[static_cast<size_t>(dim)], 1), 0);
  } else {
    raw::fill_(out, 0);
  }
  raw::copy_(raw::slice(out, dim, start, end, step), g);
  if (needs_grad({&g}))
    record("SliceBackwardBackward", {g}, out,
           [=](const TensorList& gg) { return TensorList{gg[0].slice(dim, start, end, step)}; });
  return out;
}

std::vector<Shape> shapes_of(const std::vector<Tensor>& tensors) {
  std::vector<Shape> shapes;
  shapes.reserve(tensors.size());
  for (const Tensor& t : tensors) shapes.push_back(t.sizes());
  return shapes;
}

Tensor select_backward(const Tensor& g, const Shape& shape, int64_t dim, int64_t index) {
  Tensor out = raw::empty(shape, g.dtype(), g.device());
  raw::fill_(out, 0);
  raw::copy_(raw::select(out, dim, index), g);
  if (needs_grad({&g}))
    record("SelectBackwardBackward", {g}, out,
           [=](const TensorList& gg) { return TensorList{gg[0].select(dim, index)}; });
  return out;
}

}  // namespace

// ---- views -------------------------------------------------------------------------------

Tensor Tensor::view(const Shape& shape) const {
  const profiler::OpScope profile("view");
  Shape in = sizes();
  return view_op("ViewBackward", *this, raw::view(*this, shape),
                 [in](const Tensor& g) { return g.reshape(in); });
}
Tensor Tensor::reshape(const Shape& shape) const {
  const profiler::OpScope profile("reshape");
  Shape in = sizes();
  return view_op("ReshapeBackward", *this, raw::reshape(*this, shape),
                 [in](const Tensor& g) { return g.reshape(in); });
}
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  const profiler::OpScope profile("flatten");
  Shape in = sizes();
  return view_op("FlattenBackward", *this, raw::flatten(*this, start_dim, end_dim),
                 [in](const Tensor& g) { return g.reshape(in); });
}
Tensor Tensor::unsqueeze(int64_t dim) const {
  const profiler::OpScope profile("unsqueeze");
  Shape in = sizes();
  return view_op("UnsqueezeBackward", *this, raw::unsqueeze(*this, dim),
                 [in](const Tensor& g) { return g.reshape(in); });
}
Tensor Tensor::squeeze() const {
  const profiler::OpScope profile("squeeze");
  Shape in = sizes();
  return view_op("SqueezeBackward", *this, raw::squeeze(*this),
                 [in](const Tensor& g) { return g.reshape(in); });
}
Tensor Tensor::squeeze(int64_t dim) const {
  const profiler::OpScope profile("squeeze");
  Shape in = sizes();
  return view_op("SqueezeBackward", *this, raw::squeeze(*this, dim),
                 [in](const Tensor& g) { return g.reshape(in); });
}
// transpose: dx = g transposed back
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  const profiler::OpScope profile("transpose");
  return view_op("TransposeBackward", *this, raw::transpose(*this, dim0, dim1),
                 [dim0, dim1](const Tensor& g) { return g.transpose(dim0, dim1); });
}
Tensor Tensor::t() const {
  raw::check_defined("t", *this);
  if (dim() > 2)
    fail<ShapeError>("t", "expects a tensor with at most 2 dims, got shape ", str(sizes()),
                     "; use transpose(dim0, dim1)");
  return dim() < 2
             ? view_op("AliasBackward", *this, raw::alias(*this), [](const Tensor& g) { return g; })
             : transpose(0, 1);
}
// permute: dx = g permuted by the inverse permutation
Tensor Tensor::permute(const DimList& dims) const {
  const profiler::OpScope profile("permute");
  Tensor y = raw::permute(*this, dims);
  DimList inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i)
    inverse[wrap_dim("permute", dims[i], dim())] = static_cast<int64_t>(i);
  return view_op("PermuteBackward", *this, y,
                 [inverse](const Tensor& g) { return g.permute(inverse); });
}
// expand: dx = g summed over the expanded dims (FunctionNode reduces to x's shape)
Tensor Tensor::expand(const Shape& shape) const {
  const profiler::OpScope profile("expand");
  return view_op("ExpandBackward", *this, raw::expand(*this, shape),
                 [](const Tensor& g) { return g; });
}
// slice: dx = zeros with g in the sliced positions
Tensor Tensor::slice(int64_t dim_, int64_t start, int64_t end, int64_t step) const {
  const profiler::OpScope profile("slice");
  Tensor y = raw::slice(*this, dim_, start, end, step);
  Shape in = sizes();
  int64_t d = wrap_dim("slice", dim_, dim());
  // The slice's normalized bounds, recovered from the view it made.
  int64_t first = (y.storage_offset() - storage_offset()) / std::max<int64_t>(strides()[d], 1);
  if (strides()[d] == 0) first = 0;
  int64_t stop = first + y.sizes()[d] * step;
  return view_op("SliceBackward", *this, y, [=](const Tensor& g) {
    return slice_backward(g, in, d, first, std::min(stop, in[d]), step);
  });
}
Tensor Tensor::narrow(int64_t dim_, int64_t start, int64_t length) const {
  raw::check_defined("narrow", *this);
  if (dim() == 0) fail<IndexError>("narrow", "cannot narrow a 0-dim tensor");
  int64_t d = wrap_dim("narrow", dim_, dim());
  int64_t n = sizes()[d];
  if (start < -n || start > n)
    fail<IndexError>("narrow", "start ", start, " is out of range for dim ", d, " of size ", n);
  if (start < 0) start += n;
  if (length < 0 || start + length > n)
    fail<IndexError>("narrow", "start ", start, " + length ", length, " exceeds dim ", d,
                     " of size ", n, " (shape ", str(sizes()), ")");
  return slice(d, start, start + length, 1);
}
// select: dx = zeros with g at the selected index
Tensor Tensor::select(int64_t dim_, int64_t index) const {
  const profiler::OpScope profile("select");
  Tensor y = raw::select(*this, dim_, index);
  Shape in = sizes();
  int64_t d = wrap_dim("select", dim_, dim());
  int64_t i = index < 0 ? index + in[d] : index;
  return view_op("SelectBackward", *this, y,
                 [=](const Tensor& g) { return select_backward(g, in, d, i); });
}
Tensor Tensor::detach() const { return raw::alias(*this); }

// ---- copies ---------------------------------------------------------------------------

Tensor Tensor::contiguous() const {
  Tensor y = raw::contiguous(*this);
  if (y.is_same(*this)) return y;
  return view_op("ContiguousBackward", *this, y, [](const Tensor& g) { return g; });
}
Tensor Tensor::clone() const {
  return view_op("CloneBackward", *this, raw::clone(*this), [](const Tensor& g) { return g; });
}
// to(dtype): dx = g cast back (FunctionNode casts to the input's dtype)
Tensor Tensor::to(DType dtype) const {
  const profiler::OpScope profile("to");
  Tensor y = raw::cast(*this, dtype);
  if (y.is_same(*this)) return y;
  // As torch: a cast to an integer or bool type leaves the graph; between floating types
  // the gradient is cast back (a bf16 copy of an f32 weight sends f32 gradients to it).
  if (!is_floating(dtype)) return y;
  return view_op("ToCopyBackward", *this, y,
                 [src = this->dtype()](const Tensor& g) { return g.to(src); });
}
Tensor Tensor::to(Device device) const {
  const profiler::OpScope profile("to");
  Tensor y = raw::to_device(*this, device);
  if (y.is_same(*this)) return y;
  return view_op("ToCopyBackward", *this, y, [](const Tensor& g) { return g; });
}
Tensor Tensor::to(Device device, DType dtype) const { return to(dtype).to(device); }
// pin_memory (issue 18): dx = g, as PyTorch's _pin_memory
Tensor pin_memory(const Tensor& x) {
  Tensor y = raw::pin_memory(x);
  if (y.is_same(x)) return y;
  return view_op("PinMemoryBackward", x, y, [](const Tensor& g) { return g; });
}

// ---- joining and splitting ----------------------------------------------------------------

// cat: dx_i = the slice of g that came from x_i
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor y = raw::cat(tensors, dim);
  if (needs_grad(tensors)) {
    int64_t d = wrap_dim("cat", dim, y.dim());
    std::vector<int64_t> sizes;
    for (const Tensor& t : tensors) sizes.push_back(t.sizes()[d]);
    record("CatBackward", tensors, y, [=](const TensorList& g) {
      TensorList out;
      int64_t offset = 0;
      for (int64_t n : sizes) {
        out.push_back(g[0].narrow(d, offset, n));
        offset += n;
      }
      return out;
    });
  }
  return y;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (tensors.empty()) fail<ValueError>("stack", "expected a non-empty list of tensors");
  raw::check_defined("stack", tensors[0]);
  int64_t d = wrap_dim("stack", dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) {
    raw::check_defined("stack", t);
    if (t.sizes() != tensors[0].sizes())
      fail<ShapeError>("stack", "expects tensors of one shape, got ", str(tensors[0].sizes()),
                       " and ", str(t.sizes()));
    parts.push_back(t.unsqueeze(d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& split_sizes, int64_t dim) {
  raw::check_defined("split", x);
  if (x.dim() == 0) fail<ShapeError>("split", "cannot split a 0-dim tensor");
  int64_t d = wrap_dim("split", dim, x.dim());
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    if (s < 0) fail<ValueError>("split", "split sizes must be >= 0, got ", str(split_sizes));
    total += s;
  }
  if (total != x.sizes()[d])
    fail<ShapeError>("split", "split sizes ", str(split_sizes), " sum to ", total, " but dim ", d,
                     " of shape ", str(x.sizes()), " has size ", x.sizes()[d]);
  std::vector<Tensor> out;
  out.reserve(split_sizes.size());
  int64_t start = 0;
  for (int64_t s : split_sizes) {
    out.push_back(raw::slice(x, d, start, start + s, 1));
    start += s;
  }
  // One node for all the pieces, as PyTorch's SplitWithSizesBackward: dx = cat of the
  // pieces' gradients (zeros for a piece no path used), one pass writing x's shape once.
  // A SliceBackward per piece made a tensor of x's shape each and the engine summed them
  // (issue 19: the GPT's qkv split, 3 tensors of (B, T, 3C) and 2 adds per layer).
  if (needs_grad({&x})) {
    const DType dt = x.dtype();
    const Device dev = x.device();
    record("SplitWithSizesBackward", {x}, out,
           [out_shapes = shapes_of(out), d, dt, dev](const TensorList& g) {
             TensorList parts;
             parts.reserve(g.size());
             for (size_t i = 0; i < g.size(); ++i)
               parts.push_back(g[i].defined() ? g[i]
                                              : zeros(out_shapes[i], {.dtype = dt, .device = dev}));
             return TensorList{cat(parts, d)};
           });
    for (const Tensor& piece : out) autograd::mark_view(piece);
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  raw::check_defined("split", x);
  if (x.dim() == 0) fail<ShapeError>("split", "cannot split a 0-dim tensor");
  int64_t d = wrap_dim("split", dim, x.dim());
  int64_t n = x.sizes()[d];
  if (split_size <= 0 && !(split_size == 0 && n == 0))
    fail<ValueError>("split", "split_size must be positive, got ", split_size);
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += split_size)
    sizes.push_back(std::min(split_size, n - start));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  raw::check_defined("chunk", x);
  if (chunks <= 0) fail<ValueError>("chunk", "number of chunks must be positive, got ", chunks);
  if (x.dim() == 0) fail<ShapeError>("chunk", "cannot chunk a 0-dim tensor");
  dim = wrap_dim("chunk", dim, x.dim());
  int64_t n = x.size(dim);
  int64_t size = (n + chunks - 1) / chunks;
  return split(x, std::max<int64_t>(size, n == 0 ? 0 : 1), dim);
}

// ---- indexing ------------------------------------------------------------------------------

// index_select: dx = zeros with g added at the selected rows (repeats accumulate)
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor y = raw::index_select(x, dim, index);
  if (needs_grad({&x})) {
    Shape shape = x.sizes();
    int64_t d = x.dim() == 0 ? 0 : wrap_dim("index_select", dim, x.dim());
    SavedTensor si(index, false);
    DType dt = x.dtype();
    Device dev = x.device();
    record("IndexSelectBackward", {x, index}, y, [=](const TensorList& g) {
      if (shape.empty()) return TensorList{sum(g[0]), Tensor()};
      Shape view_shape(shape.size(), 1);
      view_shape[d] = -1;
      Tensor idx = si.unpack().reshape(view_shape).expand(g[0].sizes());
      return TensorList{scatter_add(zeros(shape, {.dtype = dt, .device = dev}), d, idx, g[0]),
                        Tensor()};
    });
  }
  return y;
}

// gather: dx = zeros with g added at the gathered positions
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor y = raw::gather(x, dim, index);
  if (needs_grad({&x})) {
    Shape shape = x.sizes();
    int64_t d = wrap_dim("gather", dim, x.dim());
    SavedTensor si(index, false);
    DType dt = x.dtype();
    Device dev = x.device();
    record("GatherBackward", {x, index}, y, [=](const TensorList& g) {
      return TensorList{
          scatter_add(zeros(shape, {.dtype = dt, .device = dev}), d, si.unpack(), g[0]), Tensor()};
    });
  }
  return y;
}

// scatter_add: dx = g, dsrc = g gathered at the index (zeros where src was not scattered)
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor y = raw::scatter_add(x, dim, index, src);
  if (needs_grad({&x, &src})) {
    int64_t d = wrap_dim("scatter_add", dim, x.dim());
    SavedTensor si(index, false);
    Shape src_shape = src.sizes();
    record("ScatterAddBackward", {x, index, src}, y, [=](const TensorList& g) {
      Tensor idx = si.unpack();
      Tensor gs = gather(g[0], d, idx);
      if (idx.sizes() != src_shape) {  // src elements outside the index get no gradient
        Tensor full = raw::empty(src_shape, gs.dtype(), gs.device());
        raw::fill_(full, 0);
        Tensor region = full;
        for (int64_t i = 0; i < idx.dim(); ++i)
          region = raw::slice(region, i, 0, idx.sizes()[i], 1);
        raw::copy_(region, gs);
        gs = full;
      }
      return TensorList{g[0], Tensor(), gs};
    });
  }
  return y;
}

namespace {
Tensor triangle(const char* op, const Tensor& x, int64_t diagonal, bool upper) {
  raw::check_defined(op, x);
  if (x.dim() < 2)
    fail<ShapeError>(op, "needs a tensor with at least 2 dims, got shape ", str(x.sizes()));
  // A zero of x's own dtype: the integer scalar 0 would promote a bool x to i64 (torch's
  // triu keeps the dtype, and attention masks are built with it).
  return where(raw::tril_mask(x.size(-2), x.size(-1), diagonal, upper, x.device()), x,
               zeros({}, {.dtype = x.dtype(), .device = x.device()}));
}
}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) { return triangle("tril", x, diagonal, false); }
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle("triu", x, diagonal, true); }

// ---- in place ------------------------------------------------------------------------------
//
// Without autograd involvement an in-place op writes through the raw op. When grad mode
// is on and the target or the operand requires grad, the new value is computed out of
// place with its history, written into the target, and the target takes over that
// history (PyTorch's "rebase"). A leaf that requires grad, or a view of a tensor that
// requires grad, cannot be written in place while grad mode is on.

namespace {
bool inplace_needs_grad(const char* op, const Tensor& self, const Tensor* other) {
  raw::check_defined(op, self);
  if (!GradMode::is_enabled()) return false;
  bool self_grad = self.requires_grad();
  if (self_grad && self.is_leaf())
    fail<ValueError>(op, "a leaf tensor that requires grad (shape ", str(self.sizes()),
                     ") cannot be modified in place; use NoGradGuard or work on a clone()");
  if (self_grad && self.autograd_meta()->is_view)
    fail<ValueError>(op,
                     "in-place modification of a view of a tensor that requires grad is "
                     "not supported (shape ",
                     str(self.sizes()), "); clone() it first");
  return self_grad || (other != nullptr && other->defined() && other->requires_grad());
}

void rebase(Tensor& self, const Tensor& result) {
  raw::copy_(self, result);
  AutogradMeta& m = self.ensure_autograd_meta();
  m.grad_fn = result.grad_fn();
  m.output_nr = result.autograd_meta() ? result.autograd_meta()->output_nr : 0;
}

// A constant written over a tensor that had history: its gradient stops here.
void rebase_constant(Tensor& self) {
  Tensor marker = raw::alias(self);
  autograd::record("FillBackward", {}, marker, [](const TensorList&) { return TensorList{}; });
  AutogradMeta& m = self.ensure_autograd_meta();
  m.grad_fn = marker.grad_fn();
  m.output_nr = 0;
}
}  // namespace

Tensor& Tensor::fill_(const Scalar& value) {
  bool grad = inplace_needs_grad("fill_", *this, nullptr);
  raw::fill_(*this, value);
  if (grad) rebase_constant(*this);
  return *this;
}
Tensor& Tensor::zero_() { return fill_(0); }
Tensor& Tensor::copy_(const Tensor& src) {
  if (inplace_needs_grad("copy_", *this, &src)) {
    Tensor moved = src.to(device(), dtype());
    if (broadcast_shapes("copy_", sizes(), moved.sizes()) != sizes())
      fail<ShapeError>("copy_", "source of shape ", str(src.sizes()),
                       " does not broadcast to destination shape ", str(sizes()));
    rebase(*this, moved.expand(sizes()).clone());
  } else {
    raw::copy_(*this, src);
  }
  return *this;
}

namespace {
Tensor& inplace_binary(Tensor& self, const Tensor& other, BinaryOp op, const char* name,
                       Tensor (*fn)(const Tensor&, const Tensor&), bool reads_self) {
  if (inplace_needs_grad(name, self, &other)) {
    if (broadcast_shapes(name, self.sizes(), other.sizes()) != self.sizes())
      fail<ShapeError>(name, "operand of shape ", str(other.sizes()),
                       " does not broadcast to the in-place target shape ", str(self.sizes()));
    DType result = raw::binary_result_dtype(op, self.dtype(), other.dtype());
    if (is_floating(result) && !is_floating(self.dtype()))
      fail<DTypeError>(name, "result dtype ", result, " cannot be stored in place into a ",
                       self.dtype(), " tensor");
    // mul_/div_ save their first input, which the write below overwrites: use a copy.
    Tensor current = reads_self ? self.clone() : self;
    rebase(self, fn(current, other).to(self.dtype()));
  } else {
    raw::binary_(op, self, other);
  }
  return self;
}
}  // namespace

Tensor& Tensor::add_(const Tensor& other) {
  return inplace_binary(
      *this, other, BinaryOp::add, "add_",
      [](const Tensor& a, const Tensor& b) { return ember::add(a, b); }, false);
}
Tensor& Tensor::add_(const Scalar& other) {
  raw::check_defined("add_", *this);
  return add_(raw::scalar_like(other, *this));
}
Tensor& Tensor::sub_(const Tensor& other) {
  return inplace_binary(
      *this, other, BinaryOp::sub, "sub_",
      [](const Tensor& a, const Tensor& b) { return ember::sub(a, b); }, false);
}
Tensor& Tensor::mul_(const Tensor& other) {
  return inplace_binary(
      *this, other, BinaryOp::mul, "mul_",
      [](const Tensor& a, const Tensor& b) { return ember::mul(a, b); }, true);
}
Tensor& Tensor::mul_(const Scalar& other) {
  raw::check_defined("mul_", *this);
  return mul_(raw::scalar_like(other, *this));
}
Tensor& Tensor::div_(const Tensor& other) {
  return inplace_binary(
      *this, other, BinaryOp::div, "div_",
      [](const Tensor& a, const Tensor& b) { return ember::div(a, b); }, true);
}
Tensor& Tensor::masked_fill_(const Tensor& mask, const Scalar& value) {
  if (inplace_needs_grad("masked_fill_", *this, nullptr)) {
    rebase(*this, ember::masked_fill(*this, mask, value));
  } else {
    raw::copy_(*this, ember::masked_fill(*this, mask, value));
  }
  return *this;
}
Tensor& Tensor::uniform_(double from, double to) {
  if (!(from <= to)) fail<ValueError>("uniform_", "expects from <= to, got ", from, " and ", to);
  bool grad = inplace_needs_grad("uniform_", *this, nullptr);
  raw::random_(*this, RandomDist::uniform, from, to);
  if (grad) rebase_constant(*this);
  return *this;
}
Tensor& Tensor::normal_(double mean, double std) {
  if (!(std >= 0)) fail<ValueError>("normal_", "expects std >= 0, got ", std);
  bool grad = inplace_needs_grad("normal_", *this, nullptr);
  raw::random_(*this, RandomDist::normal, mean, std);
  if (grad) rebase_constant(*this);
  return *this;
}

}  // namespace ember
