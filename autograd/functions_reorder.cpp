// Reordering and repetition: flip, roll, repeat, tile, repeat_interleave. Each is one
// gather-style copy (index_select along a dim, or an expand materialized by reshape), so
// the derivative rules are those of index_select (g summed back into the source rows)
// and expand (g summed over the copies), and double backward comes with them.
#include "autograd/recording.h"
#include "tensor/profiler.h"

namespace ember {

namespace {

// The i64 index `values` on x's device: one small host-to-device copy per call.
Tensor index_on(const std::vector<int64_t>& values, const Tensor& x) {
  return from_vector(values, x.device());
}

std::string shape_str(const Tensor& x) { return str(x.sizes()); }

}  // namespace

// y[..., i, ...] = x[..., n-1-i, ...] for each dim in dims.
Tensor flip(const Tensor& x, const DimList& dims) {
  const profiler::OpScope profile("flip");
  raw::check_defined("flip", x);
  if (dims.empty()) return x.clone();  // wrap_dims reads {} as every dim; flip as none
  Tensor y = x;
  bool copied = false;
  for (int64_t d : wrap_dims("flip", dims, x.dim())) {  // sorted, each dim once
    int64_t n = x.size(d);
    if (n <= 1) continue;
    std::vector<int64_t> idx(n);
    for (int64_t i = 0; i < n; ++i) idx[i] = n - 1 - i;
    y = index_select(y, d, index_on(idx, x));
    copied = true;
  }
  return copied ? y : x.clone();  // torch.flip always returns a new tensor
}

// y[..., i, ...] = x[..., (i - shift) mod n, ...] for each (shift, dim).
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const DimList& dims) {
  const profiler::OpScope profile("roll");
  raw::check_defined("roll", x);
  if (dims.empty()) {
    if (shifts.size() != 1)
      fail<ValueError>("roll", "without dims, shifts must hold one value, got ", str(shifts),
                       " (input shape ", shape_str(x), ")");
    return roll(x.flatten(), shifts, {0}).reshape(x.sizes());
  }
  if (shifts.size() != dims.size())
    fail<ValueError>("roll", "shifts ", str(shifts), " and dims ", str(dims),
                     " must have the same length (input shape ", shape_str(x), ")");
  Tensor y = x;
  bool copied = false;
  for (size_t k = 0; k < dims.size(); ++k) {  // a dim named twice rolls twice, as in torch
    int64_t d = wrap_dim("roll", dims[k], x.dim()), n = x.dim() == 0 ? 1 : x.size(d);
    if (n == 0) continue;
    int64_t s = ((shifts[k] % n) + n) % n;
    if (s == 0) continue;
    std::vector<int64_t> idx(n);
    for (int64_t i = 0; i < n; ++i) idx[i] = (i - s + n) % n;
    y = index_select(y, d, index_on(idx, x));
    copied = true;
  }
  return copied ? y : x.clone();
}

// x viewed as (1, a0, 1, a1, ...), expanded to (s0, a0, s1, a1, ...) and made contiguous
// by the reshape to (s0*a0, s1*a1, ...): one copy, and the gradient sums over the s_i.
Tensor repeat(const Tensor& x, const std::vector<int64_t>& sizes) {
  const profiler::OpScope profile("repeat");
  raw::check_defined("repeat", x);
  const int64_t r = static_cast<int64_t>(sizes.size());
  if (r < x.dim())
    fail<ShapeError>("repeat", "repeats ", str(sizes), " have fewer entries than the input ",
                     shape_str(x), " has dims");
  for (int64_t s : sizes)
    if (s < 0) fail<ValueError>("repeat", "repeats ", str(sizes), " must not be negative");
  Shape padded(r - x.dim(), 1);
  for (int64_t s : x.sizes()) padded.push_back(s);
  Shape inter, expanded, out;
  for (int64_t i = 0; i < r; ++i) {
    inter.push_back(1);
    inter.push_back(padded[i]);
    expanded.push_back(sizes[i]);
    expanded.push_back(padded[i]);
    out.push_back(sizes[i] * padded[i]);
  }
  return x.reshape(inter).expand(expanded).reshape(out);
}

Tensor tile(const Tensor& x, const std::vector<int64_t>& dims) {
  const profiler::OpScope profile("tile");
  raw::check_defined("tile", x);
  std::vector<int64_t> sizes = dims;
  if (static_cast<int64_t>(sizes.size()) < x.dim())
    sizes.insert(sizes.begin(), x.dim() - static_cast<int64_t>(sizes.size()), 1);
  return repeat(x, sizes);
}

// Each slice along dim repeated `repeats` times: x (.., n, ..) -> (.., n*repeats, ..) as
// an expand of a new dim after dim, flattened back into it.
Tensor repeat_interleave(const Tensor& x, int64_t repeats, std::optional<int64_t> dim) {
  const profiler::OpScope profile("repeat_interleave");
  raw::check_defined("repeat_interleave", x);
  if (repeats < 0)
    fail<ValueError>("repeat_interleave", "repeats must not be negative, got ", repeats,
                     " (input shape ", shape_str(x), ")");
  Tensor src = dim ? (x.dim() == 0 ? x.reshape({1}) : x) : x.flatten();
  int64_t d = dim ? wrap_dim("repeat_interleave", *dim, src.dim()) : 0;
  Shape expanded = src.sizes();
  expanded.insert(expanded.begin() + d + 1, repeats);
  return src.unsqueeze(d + 1).expand(expanded).flatten(d, d + 1);
}

// Counts per slice (read on the host: the output's size depends on them, as in torch).
Tensor repeat_interleave(const Tensor& x, const Tensor& repeats, std::optional<int64_t> dim) {
  const profiler::OpScope profile("repeat_interleave");
  raw::check_defined("repeat_interleave", x);
  raw::check_defined("repeat_interleave", repeats);
  if (repeats.dtype() != DType::i64)
    fail<DTypeError>("repeat_interleave", "repeats must be an i64 tensor, got ", repeats.dtype());
  if (repeats.dim() > 1)
    fail<ShapeError>("repeat_interleave", "repeats must be 0-dim or 1-D, got shape ",
                     str(repeats.sizes()));
  if (repeats.numel() == 1)
    return repeat_interleave(x, repeats.to(Device::cpu()).reshape({1}).item<int64_t>(), dim);
  Tensor src = dim ? (x.dim() == 0 ? x.reshape({1}) : x) : x.flatten();
  int64_t d = dim ? wrap_dim("repeat_interleave", *dim, src.dim()) : 0;
  if (repeats.numel() != src.size(d))
    fail<ShapeError>("repeat_interleave", "repeats of shape ", str(repeats.sizes()),
                     " must hold one count per slice of dim ", d, " of the input ", shape_str(src));
  std::vector<int64_t> counts = repeats.to(Device::cpu()).contiguous().to_vector<int64_t>();
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < static_cast<int64_t>(counts.size()); ++i) {
    if (counts[i] < 0)
      fail<ValueError>("repeat_interleave", "repeats must not be negative, got ", counts[i],
                       " at index ", i);
    idx.insert(idx.end(), counts[i], i);
  }
  return index_select(src, d, index_on(idx, src));
}

// ---- method spellings ------------------------------------------------------------------------

Tensor Tensor::flip(const DimList& dims) const { return ember::flip(*this, dims); }
Tensor Tensor::roll(const std::vector<int64_t>& shifts, const DimList& dims) const {
  return ember::roll(*this, shifts, dims);
}
Tensor Tensor::repeat(const std::vector<int64_t>& sizes) const {
  return ember::repeat(*this, sizes);
}
Tensor Tensor::tile(const std::vector<int64_t>& dims) const { return ember::tile(*this, dims); }
Tensor Tensor::repeat_interleave(int64_t repeats, std::optional<int64_t> dim) const {
  return ember::repeat_interleave(*this, repeats, dim);
}
Tensor Tensor::repeat_interleave(const Tensor& repeats, std::optional<int64_t> dim) const {
  return ember::repeat_interleave(*this, repeats, dim);
}

}  // namespace ember
