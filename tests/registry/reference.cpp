#include "registry/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <stdexcept>

namespace ember::ref {

namespace {
[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("ref: " + what); }

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Calls f(idx) for every multi-index of shape in row-major order.
template <typename F>
void for_each_index(const Shape& shape, F&& f) {
  int64_t n = numel_of(shape);
  Index idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    f(idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

double read_element(const char* p, DType dtype) {
  switch (dtype) {
    case DType::f32: {
      float v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::f64: {
      double v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::i64: {
      int64_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<double>(v);
    }
    case DType::b8: {
      uint8_t v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    default:  // the 16-bit floats and small integers: through their C++ types
      return dispatch_all(dtype, "read_element", [&](auto tag) {
        using T = decltype(tag);
        T v;
        std::memcpy(&v, p, sizeof v);
        return static_cast<double>(static_cast<opmath_t<T>>(v));
      });
  }
}
}  // namespace

double& RefTensor::operator[](const Index& idx) {
  return data[static_cast<size_t>(ravel(idx, shape))];
}
double RefTensor::operator[](const Index& idx) const {
  return data[static_cast<size_t>(ravel(idx, shape))];
}

// ---- construction and index helpers ----------------------------------------------------

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

RefTensor filled(const Shape& shape, double value) {
  return RefTensor{shape, std::vector<double>(static_cast<size_t>(numel_of(shape)), value)};
}

RefTensor from_values(const Shape& shape, std::vector<double> data) {
  if (numel_of(shape) != static_cast<int64_t>(data.size()))
    bad("from_values: " + std::to_string(data.size()) + " values for shape " + shape_str(shape));
  return RefTensor{shape, std::move(data)};
}

RefTensor from_tensor(const Tensor& t0) {
  Tensor t = t0.device().is_host_accessible() ? t0 : t0.to(Device::cpu());
  RefTensor r = filled(t.sizes(), 0.0);
  if (r.numel() == 0) return r;
  const auto esize = static_cast<int64_t>(element_size(t.dtype()));
  // Element 0 from the storage itself rather than raw_data(), so the offset arithmetic
  // under test is not the arithmetic doing the reading.
  const char* base = static_cast<const char*>(t.storage()->data()) + t.storage_offset() * esize;
  const Strides& st = t.strides();
  const Shape& sh = r.shape;
  // Row-major walk keeping the element offset up to date (an odometer over the dims).
  Index idx(sh.size(), 0);
  int64_t off = 0;
  for (int64_t flat = 0; flat < r.numel(); ++flat) {
    r.data[static_cast<size_t>(flat)] = read_element(base + off * esize, t.dtype());
    for (size_t d = sh.size(); d-- > 0;) {
      if (++idx[d] < sh[d]) {
        off += st[d];
        break;
      }
      off -= st[d] * (sh[d] - 1);
      idx[d] = 0;
    }
  }
  return r;
}

Index unravel(int64_t flat, const Shape& shape) {
  Index idx(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

int64_t ravel(const Index& idx, const Shape& shape) {
  if (idx.size() != shape.size()) bad("ravel: index rank does not match shape " + shape_str(shape));
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (idx[d] < 0 || idx[d] >= shape[d])
      bad("ravel: index " + index_str(idx) + " out of " + shape_str(shape));
    flat = flat * shape[d] + idx[d];
  }
  return flat;
}

std::string index_str(const Index& idx) {
  std::string out = "(";
  for (size_t i = 0; i < idx.size(); ++i) out += (i ? ", " : "") + std::to_string(idx[i]);
  return out + ")";
}

int64_t wrap(int64_t dim, int64_t ndim) {
  int64_t n = std::max<int64_t>(ndim, 1);
  if (dim < -n || dim >= n) bad("dim " + std::to_string(dim) + " out of range");
  return dim < 0 ? dim + n : dim;
}

Shape broadcast(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n, 1);
  for (size_t i = 0; i < n; ++i) {
    int64_t sa = i + a.size() >= n ? a[i + a.size() - n] : 1;
    int64_t sb = i + b.size() >= n ? b[i + b.size() - n] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      bad("cannot broadcast " + shape_str(a) + " and " + shape_str(b));
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

double bget(const RefTensor& x, const Index& out_idx) {
  size_t lead = out_idx.size() - x.shape.size();
  int64_t flat = 0;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    int64_t i = x.shape[d] == 1 ? 0 : out_idx[lead + d];
    flat = flat * x.shape[d] + i;
  }
  return x.data[static_cast<size_t>(flat)];
}

RefTensor reshape(const RefTensor& x, const Shape& shape) { return from_values(shape, x.data); }

RefTensor expand(const RefTensor& x, const Shape& shape) {
  if (broadcast(x.shape, shape) != shape)
    bad("cannot expand " + shape_str(x.shape) + " to " + shape_str(shape));
  RefTensor out = filled(shape, 0.0);
  int64_t flat = 0;
  for_each_index(shape,
                 [&](const Index& idx) { out.data[static_cast<size_t>(flat++)] = bget(x, idx); });
  return out;
}

// ---- scalar math ---------------------------------------------------------------------

double sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double relu(double x) { return std::isnan(x) || x > 0 ? x : 0.0; }  // NaN propagates (clamp_min)
double gelu_erf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2)); }
double gelu_tanh(double x) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}
double silu(double x) { return x * sigmoid(x); }

double cast_value(double x, DType dtype) {
  switch (dtype) {
    case DType::f32: return static_cast<double>(static_cast<float>(x));
    case DType::f64: return x;
    case DType::i64: return std::trunc(x);
    case DType::b8: return x != 0.0 ? 1.0 : 0.0;
    case DType::bf16: return static_cast<double>(static_cast<float>(bf16(static_cast<float>(x))));
    case DType::f16: return static_cast<double>(static_cast<float>(f16(static_cast<float>(x))));
    case DType::i32:
    case DType::i8:
    case DType::u8: return std::trunc(x);
  }
  bad("unknown dtype");
}

// ---- elementwise -----------------------------------------------------------------------

RefTensor map(const RefTensor& x, const std::function<double(double)>& f) {
  RefTensor out = x;
  for (double& v : out.data) v = f(v);
  return out;
}

RefTensor zip(const RefTensor& a, const RefTensor& b,
              const std::function<double(double, double)>& f) {
  RefTensor out = filled(broadcast(a.shape, b.shape), 0.0);
  int64_t flat = 0;
  for_each_index(out.shape, [&](const Index& idx) {
    out.data[static_cast<size_t>(flat++)] = f(bget(a, idx), bget(b, idx));
  });
  return out;
}

RefTensor zip3(const RefTensor& a, const RefTensor& b, const RefTensor& c,
               const std::function<double(double, double, double)>& f) {
  RefTensor out = filled(broadcast(broadcast(a.shape, b.shape), c.shape), 0.0);
  int64_t flat = 0;
  for_each_index(out.shape, [&](const Index& idx) {
    out.data[static_cast<size_t>(flat++)] = f(bget(a, idx), bget(b, idx), bget(c, idx));
  });
  return out;
}

RefTensor cast(const RefTensor& x, DType dtype) {
  return map(x, [dtype](double v) { return cast_value(v, dtype); });
}

// ---- reductions ------------------------------------------------------------------------

RefTensor reduce(const RefTensor& x, const DimList& dims_in, bool keepdim, const Reducer& f) {
  std::vector<bool> reduced(x.shape.size(), dims_in.empty());
  for (int64_t d : dims_in) {
    if (x.dim() == 0) continue;  // dim 0 / -1 of a scalar reduces nothing
    reduced[static_cast<size_t>(wrap(d, x.dim()))] = true;
  }
  Shape kept_shape;  // output shape with keepdim = true
  for (size_t d = 0; d < x.shape.size(); ++d) kept_shape.push_back(reduced[d] ? 1 : x.shape[d]);
  std::vector<std::vector<double>> groups(static_cast<size_t>(numel_of(kept_shape)));
  int64_t flat = 0;
  for_each_index(x.shape, [&](const Index& idx) {
    Index o = idx;
    for (size_t d = 0; d < o.size(); ++d)
      if (reduced[d]) o[d] = 0;
    groups[static_cast<size_t>(ravel(o, kept_shape))].push_back(
        x.data[static_cast<size_t>(flat++)]);
  });
  RefTensor out = filled(kept_shape, 0.0);
  for (size_t i = 0; i < groups.size(); ++i) out.data[i] = f(groups[i]);
  if (!keepdim) {
    Shape s;
    for (size_t d = 0; d < x.shape.size(); ++d)
      if (!reduced[d]) s.push_back(x.shape[d]);
    out.shape = s;
  }
  return out;
}

double sum_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}

double prod_of(const std::vector<double>& v) {
  double p = 1.0;
  for (double x : v) p *= x;
  return p;
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? std::numeric_limits<double>::quiet_NaN()
                   : sum_of(v) / static_cast<double>(v.size());
}

double max_of(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) {
    if (std::isnan(x)) return x;
    m = std::max(m, x);
  }
  return m;
}

double min_of(const std::vector<double>& v) {
  double m = std::numeric_limits<double>::infinity();
  for (double x : v) {
    if (std::isnan(x)) return x;
    m = std::min(m, x);
  }
  return m;
}

double var_of(const std::vector<double>& v, int64_t correction) {
  double n = static_cast<double>(v.size());
  double mu = mean_of(v);
  double ss = 0.0;
  for (double x : v) ss += (x - mu) * (x - mu);
  double denom = n - static_cast<double>(correction);
  return denom > 0 ? ss / denom : std::numeric_limits<double>::quiet_NaN();
}

std::pair<RefTensor, RefTensor> arg_reduce(const RefTensor& x, int64_t dim_in, bool keepdim,
                                           bool is_max) {
  if (x.dim() == 0) return {x, filled({}, 0.0)};
  size_t dim = static_cast<size_t>(wrap(dim_in, x.dim()));
  Shape kept = x.shape;
  kept[dim] = 1;
  RefTensor vals = filled(kept, 0.0), idxs = filled(kept, -1.0);
  for_each_index(kept, [&](const Index& o) {
    Index i = o;
    double best = 0.0;
    int64_t best_j = -1;
    for (int64_t j = 0; j < x.shape[dim]; ++j) {
      i[dim] = j;
      double v = x[i];
      bool better =
          best_j < 0 || (!std::isnan(best) && (std::isnan(v) || (is_max ? v > best : v < best)));
      if (better) {
        best = v;
        best_j = j;
      }
    }
    vals[o] = best;
    idxs[o] = static_cast<double>(best_j);
  });
  if (!keepdim) {
    kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(dim));
    vals.shape = kept;
    idxs.shape = kept;
  }
  return {vals, idxs};
}

// ---- linear algebra and softmax ----------------------------------------------------------

RefTensor matmul(const RefTensor& a0, const RefTensor& b0) {
  if (a0.dim() == 0 || b0.dim() == 0) bad("matmul of a 0-dim tensor");
  Shape as = a0.shape, bs = b0.shape;
  bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);  // (K) -> (1, K)
  if (b_vec) bs.push_back(1);           // (K) -> (K, 1)
  int64_t m = as[as.size() - 2], k = as.back();
  int64_t k2 = bs[bs.size() - 2], n = bs.back();
  if (k != k2) bad("matmul inner dims " + shape_str(a0.shape) + " @ " + shape_str(b0.shape));
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  Shape batch = broadcast(ab, bb);
  // Offset of matrix `bi` of an operand with batch shape s (size-1 dims broadcast).
  auto matrix_offset = [&](const Shape& s, const Index& bi, int64_t matrix_size) {
    size_t lead = bi.size() - s.size();
    int64_t flat = 0;
    for (size_t d = 0; d < s.size(); ++d) flat = flat * s[d] + (s[d] == 1 ? 0 : bi[lead + d]);
    return flat * matrix_size;
  };
  std::vector<double> out;
  out.reserve(static_cast<size_t>(numel_of(batch) * m * n));
  for_each_index(batch, [&](const Index& bi) {
    const double* pa = a0.data.data() + matrix_offset(ab, bi, m * k);
    const double* pb = b0.data.data() + matrix_offset(bb, bi, k * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t p = 0; p < k; ++p) acc += pa[i * k + p] * pb[p * n + j];
        out.push_back(acc);
      }
  });
  Shape res = batch;
  if (!a_vec) res.push_back(m);
  if (!b_vec) res.push_back(n);
  return from_values(res, std::move(out));
}

RefTensor softmax(const RefTensor& x, int64_t dim_in, bool log) {
  if (x.dim() == 0) return filled({}, log ? 0.0 : 1.0);
  size_t dim = static_cast<size_t>(wrap(dim_in, x.dim()));
  RefTensor out = x;
  Shape kept = x.shape;
  kept[dim] = 1;
  for_each_index(kept, [&](const Index& o) {
    Index i = o;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < x.shape[dim]; ++j) {
      i[dim] = j;
      mx = std::max(mx, x[i]);
    }
    double s = 0.0;
    for (int64_t j = 0; j < x.shape[dim]; ++j) {
      i[dim] = j;
      s += std::exp(x[i] - mx);
    }
    for (int64_t j = 0; j < x.shape[dim]; ++j) {
      i[dim] = j;
      out[i] = log ? (x[i] - mx) - std::log(s) : std::exp(x[i] - mx) / s;
    }
  });
  return out;
}

// ---- shape and index ops ------------------------------------------------------------------

RefTensor permute(const RefTensor& x, const DimList& dims) {
  if (static_cast<int64_t>(dims.size()) != x.dim()) bad("permute: wrong number of dims");
  Shape s;
  for (int64_t d : dims) s.push_back(x.shape[static_cast<size_t>(wrap(d, x.dim()))]);
  RefTensor out = filled(s, 0.0);
  int64_t flat = 0;
  for_each_index(s, [&](const Index& o) {
    Index i(o.size());
    for (size_t d = 0; d < dims.size(); ++d) i[static_cast<size_t>(wrap(dims[d], x.dim()))] = o[d];
    out.data[static_cast<size_t>(flat++)] = x[i];
  });
  return out;
}

RefTensor transpose(const RefTensor& x, int64_t d0, int64_t d1) {
  DimList dims;
  for (int64_t d = 0; d < x.dim(); ++d) dims.push_back(d);
  std::swap(dims[static_cast<size_t>(wrap(d0, x.dim()))],
            dims[static_cast<size_t>(wrap(d1, x.dim()))]);
  return permute(x, dims);
}

RefTensor slice(const RefTensor& x, int64_t dim_in, int64_t start, int64_t end, int64_t step) {
  size_t dim = static_cast<size_t>(wrap(dim_in, x.dim()));
  int64_t n = x.shape[dim];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = x.shape;
  s[dim] = (end - start + step - 1) / step;
  RefTensor out = filled(s, 0.0);
  int64_t flat = 0;
  for_each_index(s, [&](const Index& o) {
    Index i = o;
    i[dim] = start + o[dim] * step;
    out.data[static_cast<size_t>(flat++)] = x[i];
  });
  return out;
}

RefTensor select(const RefTensor& x, int64_t dim_in, int64_t index) {
  size_t dim = static_cast<size_t>(wrap(dim_in, x.dim()));
  if (index < 0) index += x.shape[dim];
  RefTensor out = slice(x, static_cast<int64_t>(dim), index, index + 1, 1);
  out.shape.erase(out.shape.begin() + static_cast<std::ptrdiff_t>(dim));
  return out;
}

RefTensor cat(const std::vector<RefTensor>& xs, int64_t dim_in) {
  if (xs.empty()) bad("cat of nothing");
  size_t dim = static_cast<size_t>(wrap(dim_in, xs[0].dim()));
  Shape s = xs[0].shape;
  s[dim] = 0;
  for (const auto& x : xs) s[dim] += x.shape[dim];
  RefTensor out = filled(s, 0.0);
  int64_t base = 0;
  for (const auto& x : xs) {
    int64_t flat = 0;
    for_each_index(x.shape, [&](const Index& i) {
      Index o = i;
      o[dim] += base;
      out[o] = x.data[static_cast<size_t>(flat++)];
    });
    base += x.shape[dim];
  }
  return out;
}

RefTensor stack(const std::vector<RefTensor>& xs, int64_t dim_in) {
  if (xs.empty()) bad("stack of nothing");
  int64_t dim = wrap(dim_in, xs[0].dim() + 1);
  std::vector<RefTensor> parts;
  for (const auto& x : xs) {
    Shape s = x.shape;
    s.insert(s.begin() + dim, 1);
    parts.push_back(reshape(x, s));
  }
  return cat(parts, dim);
}

std::vector<RefTensor> split(const RefTensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  std::vector<RefTensor> out;
  int64_t start = 0;
  for (int64_t len : sizes) {
    out.push_back(slice(x, dim, start, start + len, 1));
    start += len;
  }
  return out;
}

RefTensor index_select(const RefTensor& x, int64_t dim_in, const RefTensor& index) {
  size_t dim = static_cast<size_t>(wrap(dim_in, x.dim()));
  Shape s = x.shape;
  if (x.dim() > 0) s[dim] = index.numel();
  RefTensor out = filled(s, 0.0);
  int64_t flat = 0;
  for_each_index(s, [&](const Index& o) {
    Index i = o;
    if (x.dim() > 0) i[dim] = static_cast<int64_t>(index.data[static_cast<size_t>(o[dim])]);
    out.data[static_cast<size_t>(flat++)] = x[i];
  });
  return out;
}

RefTensor gather(const RefTensor& x, int64_t dim_in, const RefTensor& index) {
  size_t dim = static_cast<size_t>(wrap(dim_in, x.dim()));
  RefTensor out = filled(index.shape, 0.0);
  int64_t flat = 0;
  for_each_index(index.shape, [&](const Index& o) {
    Index i = o;
    i[dim] = static_cast<int64_t>(index[o]);
    out.data[static_cast<size_t>(flat++)] = x[i];
  });
  return out;
}

RefTensor scatter_add(const RefTensor& x, int64_t dim_in, const RefTensor& index,
                      const RefTensor& src) {
  size_t dim = static_cast<size_t>(wrap(dim_in, x.dim()));
  RefTensor out = x;
  for_each_index(index.shape, [&](const Index& i) {
    Index o = i;
    o[dim] = static_cast<int64_t>(index[i]);
    out[o] += src[i];
  });
  return out;
}

RefTensor tri(const RefTensor& x, int64_t diagonal, bool upper) {
  if (x.dim() < 2) bad("tri needs at least 2 dims");
  RefTensor out = x;
  int64_t flat = 0;
  for_each_index(x.shape, [&](const Index& i) {
    int64_t r = i[i.size() - 2], c = i.back();
    bool keep = upper ? c - r >= diagonal : c - r <= diagonal;
    if (!keep) out.data[static_cast<size_t>(flat)] = 0.0;
    ++flat;
  });
  return out;
}

}  // namespace ember::ref
