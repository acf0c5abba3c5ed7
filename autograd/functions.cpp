// The differentiable ops users call. Each validates what is specific to its public
// form and calls the raw op; the autograd issue makes each one record its graph node
// here (next to its forward), so the derivative rules live in one place.
#include <cmath>
#include <string>

#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember {

// ---- unary -------------------------------------------------------------------------------
Tensor neg(const Tensor& x) { return raw::unary(UnaryOp::neg, x); }
Tensor abs(const Tensor& x) { return raw::unary(UnaryOp::abs, x); }
Tensor sign(const Tensor& x) { return raw::unary(UnaryOp::sign, x); }
Tensor exp(const Tensor& x) { return raw::unary(UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return raw::unary(UnaryOp::log, x); }
Tensor sqrt(const Tensor& x) { return raw::unary(UnaryOp::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return raw::unary(UnaryOp::rsqrt, x); }
Tensor tanh(const Tensor& x) { return raw::unary(UnaryOp::tanh, x); }
Tensor sigmoid(const Tensor& x) { return raw::unary(UnaryOp::sigmoid, x); }
Tensor relu(const Tensor& x) { return raw::unary(UnaryOp::relu, x); }
Tensor silu(const Tensor& x) { return raw::unary(UnaryOp::silu, x); }
Tensor sin(const Tensor& x) { return raw::unary(UnaryOp::sin, x); }
Tensor cos(const Tensor& x) { return raw::unary(UnaryOp::cos, x); }

Tensor gelu(const Tensor& x, std::string_view approximate) {
  if (approximate == "none") return raw::unary(UnaryOp::gelu, x);
  if (approximate == "tanh") return raw::unary(UnaryOp::gelu_tanh, x);
  fail<ValueError>("gelu", "approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
}

Tensor pow(const Tensor& x, const Scalar& exponent) {
  raw::check_defined("pow", x);
  Tensor base = x;
  if (!is_floating(x.dtype())) {
    if (exponent.is_floating()) {
      base = raw::cast(x, DType::f32);
    } else {
      if (exponent.to_int() < 0)
        fail<ValueError>("pow", "integers to negative integer powers are not allowed (",
                         x.dtype(), " tensor of shape ", str(x.sizes()), " to the power ",
                         exponent, ")");
      base = raw::cast(x, DType::i64);
    }
  }
  return raw::unary(UnaryOp::pow_scalar, base, exponent.to_double());
}

Tensor pow(const Tensor& x, const Tensor& exponent) { return raw::binary(BinaryOp::pow, x, exponent); }

// ---- binary ------------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::add, a, b); }
Tensor add(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::sub, a, b); }
Tensor sub(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::sub, a, b); }
Tensor sub(const Scalar& a, const Tensor& b) { return raw::binary(BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::mul, a, b); }
Tensor mul(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::div, a, b); }
Tensor div(const Tensor& a, const Scalar& b) { return raw::binary(BinaryOp::div, a, b); }
Tensor div(const Scalar& a, const Tensor& b) { return raw::binary(BinaryOp::div, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return raw::binary(BinaryOp::minimum, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) { return raw::where(cond, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b) {
  raw::check_defined("where", a);
  return raw::where(cond, a, raw::scalar_like(b, a));
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
  return raw::where(mask, fill, x);
}

// ---- reductions ----------------------------------------------------------------------------
Tensor sum(const Tensor& x, const DimList& dims, bool keepdim) {
  return raw::reduce(ReduceOp::sum, x, dims, keepdim);
}
Tensor mean(const Tensor& x, const DimList& dims, bool keepdim) {
  return raw::reduce(ReduceOp::mean, x, dims, keepdim);
}
Tensor prod(const Tensor& x, const DimList& dims, bool keepdim) {
  return raw::reduce(ReduceOp::prod, x, dims, keepdim);
}
Tensor var(const Tensor& x, const DimList& dims, int64_t correction, bool keepdim) {
  return raw::reduce(ReduceOp::var, x, dims, keepdim, correction);
}
Tensor std(const Tensor& x, const DimList& dims, int64_t correction, bool keepdim) {
  return raw::unary(UnaryOp::sqrt, raw::reduce(ReduceOp::var, x, dims, keepdim, correction));
}
Tensor amax(const Tensor& x, const DimList& dims, bool keepdim) {
  return raw::reduce(ReduceOp::max, x, dims, keepdim);
}
Tensor amin(const Tensor& x, const DimList& dims, bool keepdim) {
  return raw::reduce(ReduceOp::min, x, dims, keepdim);
}
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return raw::max_min(x, dim, keepdim, true);
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return raw::max_min(x, dim, keepdim, false);
}

// ---- linear algebra, softmax -----------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b) { return raw::matmul(a, b); }
Tensor softmax(const Tensor& x, int64_t dim) { return raw::softmax(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return raw::softmax(x, dim, true); }

// ---- joining, splitting, indexing --------------------------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) { return raw::cat(tensors, dim); }

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
    parts.push_back(raw::unsqueeze(t, d));
  }
  return raw::cat(parts, d);
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
    fail<ShapeError>("split", "split sizes ", str(split_sizes), " sum to ", total,
                     " but dim ", d, " of shape ", str(x.sizes()), " has size ", x.sizes()[d]);
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : split_sizes) {
    out.push_back(x.narrow(d, start, s));
    start += s;
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
  for (int64_t start = 0; start < n; start += split_size) sizes.push_back(std::min(split_size, n - start));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  raw::check_defined("chunk", x);
  if (chunks <= 0) fail<ValueError>("chunk", "number of chunks must be positive, got ", chunks);
  if (x.dim() == 0) fail<ShapeError>("chunk", "cannot chunk a 0-dim tensor");
  int64_t n = x.size(dim);
  int64_t size = (n + chunks - 1) / chunks;
  return split(x, std::max<int64_t>(size, n == 0 ? 0 : 1), dim);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  return raw::index_select(x, dim, index);
}
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) { return raw::gather(x, dim, index); }
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return raw::scatter_add(x, dim, index, src);
}

namespace {
Tensor triangle(const char* op, const Tensor& x, int64_t diagonal, bool upper) {
  raw::check_defined(op, x);
  if (x.dim() < 2)
    fail<ShapeError>(op, "needs a tensor with at least 2 dims, got shape ", str(x.sizes()));
  Tensor mask = raw::tril_mask(x.size(-2), x.size(-1), diagonal, upper, x.device());
  Tensor zero = raw::empty({}, x.dtype(), x.device());
  raw::fill_(zero, 0);
  return raw::where(mask, x, zero);
}
}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) { return triangle("tril", x, diagonal, false); }
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle("triu", x, diagonal, true); }

// ---- Tensor methods that are views or copies --------------------------------------------
Tensor Tensor::view(const Shape& shape) const { return raw::view(*this, shape); }
Tensor Tensor::reshape(const Shape& shape) const { return raw::reshape(*this, shape); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return raw::transpose(*this, dim0, dim1); }
Tensor Tensor::t() const {
  raw::check_defined("t", *this);
  if (dim() > 2)
    fail<ShapeError>("t", "expects a tensor with at most 2 dims, got shape ", str(sizes()),
                     "; use transpose(dim0, dim1)");
  return dim() < 2 ? raw::alias(*this) : raw::transpose(*this, 0, 1);
}
Tensor Tensor::permute(const DimList& dims) const { return raw::permute(*this, dims); }
Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end, int64_t step) const {
  return raw::slice(*this, dim, start, end, step);
}
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  raw::check_defined("narrow", *this);
  if (this->dim() == 0) fail<IndexError>("narrow", "cannot narrow a 0-dim tensor");
  int64_t d = wrap_dim("narrow", dim, this->dim());
  int64_t n = sizes()[d];
  if (start < -n || start > n)
    fail<IndexError>("narrow", "start ", start, " is out of range for dim ", d, " of size ", n);
  if (start < 0) start += n;
  if (length < 0 || start + length > n)
    fail<IndexError>("narrow", "start ", start, " + length ", length, " exceeds dim ", d,
                     " of size ", n, " (shape ", str(sizes()), ")");
  return raw::slice(*this, d, start, start + length, 1);
}
Tensor Tensor::select(int64_t dim, int64_t index) const { return raw::select(*this, dim, index); }
Tensor Tensor::unsqueeze(int64_t dim) const { return raw::unsqueeze(*this, dim); }
Tensor Tensor::squeeze() const { return raw::squeeze(*this); }
Tensor Tensor::squeeze(int64_t dim) const { return raw::squeeze(*this, dim); }
Tensor Tensor::expand(const Shape& shape) const { return raw::expand(*this, shape); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  return raw::flatten(*this, start_dim, end_dim);
}
Tensor Tensor::detach() const { return raw::alias(*this); }
Tensor Tensor::contiguous() const { return raw::contiguous(*this); }
Tensor Tensor::clone() const { return raw::clone(*this); }
Tensor Tensor::to(DType dtype) const { return raw::cast(*this, dtype); }
Tensor Tensor::to(Device device) const { return raw::to_device(*this, device); }
Tensor Tensor::to(Device device, DType dtype) const {
  return raw::to_device(raw::cast(*this, dtype), device);
}

// ---- in place ------------------------------------------------------------------------
Tensor& Tensor::fill_(const Scalar& value) {
  raw::fill_(*this, value);
  return *this;
}
Tensor& Tensor::zero_() { return fill_(0); }
Tensor& Tensor::copy_(const Tensor& src) {
  raw::copy_(*this, src);
  return *this;
}
Tensor& Tensor::add_(const Tensor& other) {
  raw::binary_(BinaryOp::add, *this, other);
  return *this;
}
Tensor& Tensor::add_(const Scalar& other) {
  raw::check_defined("add_", *this);
  raw::binary_(BinaryOp::add, *this, raw::scalar_like(other, *this));
  return *this;
}
Tensor& Tensor::sub_(const Tensor& other) {
  raw::binary_(BinaryOp::sub, *this, other);
  return *this;
}
Tensor& Tensor::mul_(const Tensor& other) {
  raw::binary_(BinaryOp::mul, *this, other);
  return *this;
}
Tensor& Tensor::mul_(const Scalar& other) {
  raw::check_defined("mul_", *this);
  raw::binary_(BinaryOp::mul, *this, raw::scalar_like(other, *this));
  return *this;
}
Tensor& Tensor::div_(const Tensor& other) {
  raw::binary_(BinaryOp::div, *this, other);
  return *this;
}
Tensor& Tensor::masked_fill_(const Tensor& mask, const Scalar& value) {
  raw::copy_(*this, ember::masked_fill(*this, mask, value));
  return *this;
}
Tensor& Tensor::uniform_(double from, double to) {
  if (!(from <= to)) fail<ValueError>("uniform_", "expects from <= to, got ", from, " and ", to);
  raw::random_(*this, RandomDist::uniform, from, to);
  return *this;
}
Tensor& Tensor::normal_(double mean, double std) {
  if (!(std >= 0)) fail<ValueError>("normal_", "expects std >= 0, got ", std);
  raw::random_(*this, RandomDist::normal, mean, std);
  return *this;
}

}  // namespace ember
