#include "tensor/shape.h"

#include <algorithm>
#include <limits>

#include "tensor/error.h"

namespace ember {

std::string str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

int64_t checked_numel(std::string_view op, const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    if (s < 0) fail<ValueError>(op, "negative size in shape ", str(shape));
    if (s != 0 && n > std::numeric_limits<int64_t>::max() / s)
      fail<ValueError>(op, "shape ", str(shape), " has too many elements");
    n *= s;
  }
  return n;
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides st(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

int64_t wrap_dim(std::string_view op, int64_t dim, int64_t ndim) {
  int64_t n = std::max<int64_t>(ndim, 1);
  if (dim < -n || dim >= n)
    fail<IndexError>(op, "dim ", dim, " out of range for a tensor of ", ndim,
                     " dims (expected in [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

DimList wrap_dims(std::string_view op, const DimList& dims, int64_t ndim) {
  DimList out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(op, d, ndim));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    fail<IndexError>(op, "dim list ", str(dims), " names a dim twice");
  if (ndim == 0) out.clear();  // dim 0 / -1 of a scalar: nothing to reduce over
  return out;
}

Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t sa = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t sb = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (sa != sb && sa != 1 && sb != 1)
      fail<ShapeError>(op, "shapes ", str(a), " and ", str(b), " cannot be broadcast (dim ", i,
                       ": ", sa, " vs ", sb, ")");
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

}  // namespace ember
