// Factories: new tensors from shapes, ranges, host data and random numbers.
// Host-computed values (arange, linspace, eye, from_vector) are built on the cpu and
// moved to the requested device in one copy.
#include <cmath>
#include <cstring>

#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember {

namespace {

DType dtype_or(const TensorOptions& o, DType fallback) { return o.dtype.value_or(fallback); }

Tensor finish(Tensor t, const TensorOptions& o) {
  if (o.requires_grad) t.requires_grad_(true);
  return t;
}

// A cpu f64 tensor filled by `f(i)`, cast and moved as the options ask.
template <typename F>
Tensor from_host_doubles(const Shape& shape, const TensorOptions& o, DType dt, F f) {
  Tensor host = raw::empty(shape, DType::f64, Device::cpu());
  double* p = static_cast<double*>(host.raw_data());
  for (int64_t i = 0, n = host.numel(); i < n; ++i) p[i] = f(i);
  return finish(raw::to_device(raw::cast(host, dt), o.device), o);
}

}  // namespace

Tensor empty(const Shape& shape, TensorOptions options) {
  const profiler::OpScope profile("empty");
  checked_numel("empty", shape);
  return finish(raw::empty(shape, dtype_or(options, DType::f32), options.device), options);
}

namespace {
Tensor filled(const char* op, const Shape& shape, const Scalar& value,
              const TensorOptions& options) {
  const profiler::OpScope profile(op);
  checked_numel(op, shape);
  Tensor t = raw::empty(shape, dtype_or(options, DType::f32), options.device);
  raw::fill_(t, value);
  return finish(t, options);
}
}  // namespace

Tensor full(const Shape& shape, const Scalar& value, TensorOptions options) {
  return filled("full", shape, value, options);
}
Tensor zeros(const Shape& shape, TensorOptions options) {
  return filled("zeros", shape, 0, options);
}
Tensor ones(const Shape& shape, TensorOptions options) { return filled("ones", shape, 1, options); }

Tensor scalar_tensor(const Scalar& value, TensorOptions options) {
  const profiler::OpScope profile("scalar_tensor");
  if (!options.dtype) options.dtype = value.natural_dtype();
  return full({}, value, options);
}

Tensor empty_like(const Tensor& t) { return raw::empty(t.sizes(), t.dtype(), t.device()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.sizes(), t.options()); }
Tensor ones_like(const Tensor& t) { return ones(t.sizes(), t.options()); }
Tensor full_like(const Tensor& t, const Scalar& value) {
  return full(t.sizes(), value, t.options());
}

Tensor arange(const Scalar& end, TensorOptions options) { return arange(0, end, 1, options); }

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, TensorOptions options) {
  const profiler::OpScope profile("arange");
  bool integral = !start.is_floating() && !end.is_floating() && !step.is_floating();
  DType dt = dtype_or(options, integral ? DType::i64 : DType::f32);
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  if (st == 0) fail<ValueError>("arange", "step must be nonzero");
  if (!std::isfinite(s) || !std::isfinite(e) || !std::isfinite(st))
    fail<ValueError>("arange", "start, end and step must be finite, got ", start, ", ", end, ", ",
                     step);
  if ((st > 0 && e < s) || (st < 0 && e > s))
    fail<ValueError>("arange", "step ", step, " does not lead from ", start, " to ", end);
  auto n = static_cast<int64_t>(std::ceil((e - s) / st));
  if (integral) {
    int64_t a = start.to_int(), b = end.to_int(), c = step.to_int();
    n = c > 0 ? (b - a + c - 1) / c : (a - b + (-c) - 1) / (-c);
    Tensor host = raw::empty({n}, DType::i64, Device::cpu());
    auto* p = static_cast<int64_t*>(host.raw_data());
    for (int64_t i = 0; i < n; ++i) p[i] = a + i * c;
    return finish(raw::to_device(raw::cast(host, dt), options.device), options);
  }
  return from_host_doubles({n}, options, dt,
                           [&](int64_t i) { return s + static_cast<double>(i) * st; });
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  const profiler::OpScope profile("linspace");
  if (steps < 0) fail<ValueError>("linspace", "number of steps must be >= 0, got ", steps);
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Symmetric from both ends, as PyTorch does, so the last value is exactly `end`.
  return from_host_doubles({steps}, options, dtype_or(options, DType::f32), [&](int64_t i) {
    if (steps == 1) return start;
    return i < steps / 2 ? start + step * static_cast<double>(i)
                         : end - step * static_cast<double>(steps - 1 - i);
  });
}

Tensor eye(int64_t n, TensorOptions options) { return eye(n, n, options); }

Tensor eye(int64_t n, int64_t m, TensorOptions options) {
  const profiler::OpScope profile("eye");
  if (n < 0 || m < 0) fail<ValueError>("eye", "sizes must be >= 0, got ", n, " and ", m);
  return from_host_doubles({n, m}, options, dtype_or(options, DType::f32),
                           [&](int64_t i) { return i / m == i % m ? 1.0 : 0.0; });
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  using Stored = std::conditional_t<std::is_same_v<T, int32_t>, int64_t, T>;
  int64_t n = checked_numel("from_vector", shape);
  if (n != static_cast<int64_t>(values.size()))
    fail<ShapeError>("from_vector", "got ", values.size(), " values for shape ", str(shape), " (",
                     n, " elements)");
  Tensor host = raw::empty(shape, dtype_of_v<Stored>, Device::cpu());
  auto* p = static_cast<Stored*>(host.raw_data());
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<Stored>(values[i]);
  return raw::to_device(host, device);
}

template Tensor from_vector(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector(const std::vector<int64_t>&, const Shape&, Device);
template Tensor from_vector(const std::vector<int32_t>&, const Shape&, Device);
template Tensor from_vector(const std::vector<bool>&, const Shape&, Device);
// The 16-bit floats and the byte types keep their dtype; int stays i64 (above), since code
// written before i32 existed relies on it.
template Tensor from_vector(const std::vector<bf16>&, const Shape&, Device);
template Tensor from_vector(const std::vector<f16>&, const Shape&, Device);
template Tensor from_vector(const std::vector<int8_t>&, const Shape&, Device);
template Tensor from_vector(const std::vector<uint8_t>&, const Shape&, Device);

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter) {
  return from_blob(data, shape, contiguous_strides(shape), dtype, std::move(deleter));
}

Tensor from_blob(void* data, const Shape& shape, const Strides& strides, DType dtype,
                 std::function<void(void*)> deleter) {
  int64_t n = checked_numel("from_blob", shape);
  if (strides.size() != shape.size())
    fail<ShapeError>("from_blob", "strides ", str(strides), " do not match shape ", str(shape));
  if (data == nullptr && n > 0) fail<ValueError>("from_blob", "null data for shape ", str(shape));
  int64_t extent = n > 0 ? 1 : 0;  // one past the furthest element, in elements
  for (size_t i = 0; i < shape.size() && n > 0; ++i) {
    if (strides[i] < 0) fail<ValueError>("from_blob", "negative stride in ", str(strides));
    extent += (shape[i] - 1) * strides[i];
  }
  auto storage = std::make_shared<Storage>(
      Device::cpu(), data, static_cast<size_t>(extent) * element_size(dtype), std::move(deleter));
  return make_tensor(std::move(storage), shape, strides, 0, dtype);
}

Tensor rand(const Shape& shape, TensorOptions options) {
  const profiler::OpScope profile("rand");
  checked_numel("rand", shape);
  Tensor t = raw::empty(shape, dtype_or(options, DType::f32), options.device);
  raw::random_(t, RandomDist::uniform, 0.0, 1.0);
  return finish(t, options);
}

Tensor randn(const Shape& shape, TensorOptions options) {
  const profiler::OpScope profile("randn");
  checked_numel("randn", shape);
  Tensor t = raw::empty(shape, dtype_or(options, DType::f32), options.device);
  raw::random_(t, RandomDist::normal, 0.0, 1.0);
  return finish(t, options);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options) {
  const profiler::OpScope profile("randint");
  if (low >= high)
    fail<ValueError>("randint", "low (", low, ") must be less than high (", high, ")");
  checked_numel("randint", shape);
  Tensor t = raw::empty(shape, dtype_or(options, DType::i64), options.device);
  raw::random_(t, RandomDist::randint, static_cast<double>(low), static_cast<double>(high));
  return finish(t, options);
}

Tensor rand_like(const Tensor& t) { return rand(t.sizes(), t.options()); }
Tensor randn_like(const Tensor& t) { return randn(t.sizes(), t.options()); }

bool equal(const Tensor& a, const Tensor& b) {
  raw::check_defined("equal", a);
  raw::check_defined("equal", b);
  if (a.sizes() != b.sizes() || a.dtype() != b.dtype()) return false;
  if (a.numel() == 0) return true;
  Tensor same = raw::binary(BinaryOp::eq, a, raw::to_device(b, a.device()));
  return raw::reduce(ReduceOp::min, raw::cast(same, DType::i64), {}, false).item<int64_t>() == 1;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  raw::check_defined("allclose", a);
  raw::check_defined("allclose", b);
  if (a.sizes() != b.sizes()) return false;
  if (a.numel() == 0) return true;
  Tensor x = raw::to_device(raw::cast(a, DType::f64), Device::cpu());
  Tensor y = raw::to_device(raw::cast(b, DType::f64), Device::cpu());
  std::vector<double> xs = x.to_vector<double>(), ys = y.to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    double diff = std::fabs(xs[i] - ys[i]);
    if (!(diff <= atol + rtol * std::fabs(ys[i])) && !(xs[i] == ys[i])) return false;
  }
  return true;
}

}  // namespace ember
