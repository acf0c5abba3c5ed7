// Views: new geometry over the same storage. No data moves here.
#include <algorithm>
#include <optional>
#include <string>

#include "tensor/raw.h"

namespace ember::raw {

namespace {

int64_t ndim(const Tensor& x) { return x.dim(); }

// Strides that let `new_shape` view memory laid out as (old_shape, old_strides), if any.
// Walks both shapes from the innermost dim, matching runs of dims ("chunks") whose memory
// is contiguous with each other; a view is possible when every chunk maps onto whole
// dims of the new shape.
std::optional<Strides> view_strides(const Shape& old_shape, const Strides& old_strides,
                                    const Shape& new_shape) {
  Strides out(new_shape.size());
  if (old_shape.empty() || numel(old_shape) == 0) return contiguous_strides(new_shape);
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    bool chunk_ends =
        d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_base_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_base_stride = old_strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

// Replaces one -1 in `shape` so the product is n; checks that it fits.
Shape infer_shape(const char* op, const Shape& shape, int64_t n) {
  Shape out = shape;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (infer_at >= 0) fail<ShapeError>(op, "only one dim can be -1 in shape ", str(shape));
      infer_at = static_cast<int64_t>(i);
    } else if (out[i] < 0) {
      fail<ValueError>(op, "invalid size ", out[i], " in shape ", str(shape));
    } else {
      known *= out[i];
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || n % known != 0)
      fail<ShapeError>(op, "shape ", str(shape), " is invalid for input of size ", n);
    out[infer_at] = n / known;
  } else if (known != n) {
    fail<ShapeError>(op, "shape ", str(shape), " is invalid for input of size ", n);
  }
  return out;
}

}  // namespace

void check_defined(const char* op, const Tensor& t) {
  if (!t.defined()) fail<ValueError>(op, "got an undefined tensor");
}

namespace {
// "sim:0" rather than Device::str()'s "sim": both ordinals spelled out, as torch does.
std::string full_name(Device d) {
  if (d.is_cpu()) return "cpu";
  return std::string(d.is_cuda() ? "cuda:" : "sim:") + std::to_string(d.index);
}
}  // namespace

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a.device() != b.device())
    fail<DeviceError>(op, "expected all tensors to be on the same device, but found at least two",
                      " devices, ", full_name(a.device()), " (shape ", str(a.sizes()), ") and ",
                      full_name(b.device()), " (shape ", str(b.sizes()), ")");
}

Tensor as_strided(const Tensor& x, Shape sizes, Strides strides, int64_t offset) {
  return make_tensor(x.storage(), std::move(sizes), std::move(strides), offset, x.dtype());
}

Tensor alias(const Tensor& x) {
  check_defined("alias", x);
  return as_strided(x, x.sizes(), x.strides(), x.storage_offset());
}

Tensor view(const Tensor& x, const Shape& shape) {
  check_defined("view", x);
  Shape target = infer_shape("view", shape, x.numel());
  auto strides = view_strides(x.sizes(), x.strides(), target);
  if (!strides)
    fail<ShapeError>("view", "cannot view a tensor of shape ", str(x.sizes()), " and strides ",
                     str(x.strides()), " as ", str(target),
                     ": its memory is not laid out for it; use reshape()");
  return as_strided(x, target, *strides, x.storage_offset());
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  check_defined("reshape", x);
  Shape target = infer_shape("reshape", shape, x.numel());
  if (auto strides = view_strides(x.sizes(), x.strides(), target))
    return as_strided(x, target, *strides, x.storage_offset());
  Tensor c = contiguous(x);
  return as_strided(c, target, contiguous_strides(target), c.storage_offset());
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  check_defined("transpose", x);
  if (x.dim() == 0) {
    wrap_dim("transpose", dim0, 0);
    wrap_dim("transpose", dim1, 0);
    return alias(x);
  }
  int64_t a = wrap_dim("transpose", dim0, ndim(x)), b = wrap_dim("transpose", dim1, ndim(x));
  Shape sizes = x.sizes();
  Strides strides = x.strides();
  std::swap(sizes[a], sizes[b]);
  std::swap(strides[a], strides[b]);
  return as_strided(x, std::move(sizes), std::move(strides), x.storage_offset());
}

Tensor permute(const Tensor& x, const DimList& dims) {
  check_defined("permute", x);
  int64_t n = ndim(x);
  if (static_cast<int64_t>(dims.size()) != n)
    fail<ShapeError>("permute", "dims ", str(dims), " do not match a tensor of shape ",
                     str(x.sizes()));
  Shape sizes(n);
  Strides strides(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim("permute", dims[i], n);
    if (seen[d]) fail<IndexError>("permute", "dims ", str(dims), " repeat dim ", d);
    seen[d] = true;
    sizes[i] = x.sizes()[d];
    strides[i] = x.strides()[d];
  }
  return as_strided(x, std::move(sizes), std::move(strides), x.storage_offset());
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  check_defined("slice", x);
  if (x.dim() == 0) fail<IndexError>("slice", "cannot slice a 0-dim tensor");
  int64_t d = wrap_dim("slice", dim, ndim(x));
  if (step <= 0) fail<ValueError>("slice", "step must be positive, got ", step);
  int64_t n = x.sizes()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sizes = x.sizes();
  Strides strides = x.strides();
  sizes[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  return as_strided(x, std::move(sizes), std::move(strides),
                    x.storage_offset() + start * x.strides()[d]);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  check_defined("select", x);
  if (x.dim() == 0) fail<IndexError>("select", "cannot select from a 0-dim tensor");
  int64_t d = wrap_dim("select", dim, ndim(x));
  int64_t n = x.sizes()[d];
  if (index < -n || index >= n)
    fail<IndexError>("select", "index ", index, " is out of range for dim ", d, " of size ", n,
                     " (shape ", str(x.sizes()), ")");
  if (index < 0) index += n;
  Shape sizes = x.sizes();
  Strides strides = x.strides();
  int64_t offset = x.storage_offset() + index * strides[d];
  sizes.erase(sizes.begin() + d);
  strides.erase(strides.begin() + d);
  return as_strided(x, std::move(sizes), std::move(strides), offset);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  check_defined("unsqueeze", x);
  int64_t d = wrap_dim("unsqueeze", dim, ndim(x) + 1);
  Shape sizes = x.sizes();
  Strides strides = x.strides();
  int64_t st = d < ndim(x) ? sizes[d] * strides[d] : 1;
  sizes.insert(sizes.begin() + d, 1);
  strides.insert(strides.begin() + d, st);
  return as_strided(x, std::move(sizes), std::move(strides), x.storage_offset());
}

Tensor squeeze(const Tensor& x) {
  check_defined("squeeze", x);
  Shape sizes;
  Strides strides;
  for (int64_t i = 0; i < ndim(x); ++i) {
    if (x.sizes()[i] == 1) continue;
    sizes.push_back(x.sizes()[i]);
    strides.push_back(x.strides()[i]);
  }
  return as_strided(x, std::move(sizes), std::move(strides), x.storage_offset());
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  check_defined("squeeze", x);
  if (x.dim() == 0) {
    wrap_dim("squeeze", dim, 0);
    return alias(x);
  }
  int64_t d = wrap_dim("squeeze", dim, ndim(x));
  if (x.sizes()[d] != 1) return alias(x);
  Shape sizes = x.sizes();
  Strides strides = x.strides();
  sizes.erase(sizes.begin() + d);
  strides.erase(strides.begin() + d);
  return as_strided(x, std::move(sizes), std::move(strides), x.storage_offset());
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined("expand", x);
  int64_t n = static_cast<int64_t>(shape.size()), m = ndim(x);
  if (n < m)
    fail<ShapeError>("expand", "cannot expand shape ", str(x.sizes()), " to ", str(shape),
                     ": fewer dims");
  Shape sizes(n);
  Strides strides(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    int64_t j = i - (n - m);  // matching dim of x, or < 0 for a new leading dim
    int64_t want = shape[i];
    if (j < 0) {
      if (want < 0)
        fail<ShapeError>("expand", "size -1 is not allowed in a new leading dim (shape ",
                         str(shape), ")");
      sizes[i] = want;
      strides[i] = 0;
      continue;
    }
    int64_t have = x.sizes()[j];
    if (want == -1) want = have;
    if (want < 0) fail<ValueError>("expand", "invalid size ", want, " in shape ", str(shape));
    if (have == want) {
      sizes[i] = have;
      strides[i] = x.strides()[j];
    } else if (have == 1) {
      sizes[i] = want;
      strides[i] = 0;
    } else {
      fail<ShapeError>("expand", "cannot expand shape ", str(x.sizes()), " to ", str(shape),
                       " (dim ", i, ": ", have, " vs ", want, ")");
    }
  }
  return as_strided(x, std::move(sizes), std::move(strides), x.storage_offset());
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  check_defined("flatten", x);
  if (x.dim() == 0) return reshape(x, {1});
  int64_t s = wrap_dim("flatten", start_dim, ndim(x)), e = wrap_dim("flatten", end_dim, ndim(x));
  if (s > e)
    fail<IndexError>("flatten", "start_dim ", start_dim, " comes after end_dim ", end_dim,
                     " for shape ", str(x.sizes()));
  Shape shape(x.sizes().begin(), x.sizes().begin() + s);
  int64_t n = 1;
  for (int64_t i = s; i <= e; ++i) n *= x.sizes()[i];
  shape.push_back(n);
  shape.insert(shape.end(), x.sizes().begin() + e + 1, x.sizes().end());
  return reshape(x, shape);
}

}  // namespace ember::raw
