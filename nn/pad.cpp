// nn::functional::pad, as torch.nn.functional.pad. pads name the last dims first:
// {left, right} pads dim -1, then {top, bottom} dim -2, then {front, back} dim -3.
//   constant: the output is filled with value once and x (cropped by the negative pads)
//     is copied into its interior: one pass over the output; dx is the interior of g.
//   reflect, replicate, circular: each padded dim is one index_select whose index maps an
//     output position p - left to a source position (mirrored without the edge, clamped,
//     or wrapped), so dx sums g into the source positions through index_select's rule.
#include <algorithm>

#include "autograd/recording.h"
#include "nn/functional.h"
#include "tensor/profiler.h"

namespace ember::nn::functional {

namespace {

enum class PadMode { constant, reflect, replicate, circular };

PadMode parse_mode(std::string_view mode) {
  if (mode == "constant") return PadMode::constant;
  if (mode == "reflect") return PadMode::reflect;
  if (mode == "replicate") return PadMode::replicate;
  if (mode == "circular") return PadMode::circular;
  fail<ValueError>("pad", "mode must be 'constant', 'reflect', 'replicate' or 'circular', got '",
                   std::string(mode), "'");
}

// One padded dim: the dim, and its before/after pads (negative crops).
struct DimPad {
  int64_t dim, before, after;
};

// The interior of a constant pad: where the cropped input lands in the output.
struct Interior {
  int64_t dim, start, length;
};

Tensor constant_pad(const Tensor& x, const std::vector<DimPad>& dims, double value) {
  Tensor cropped = x;  // negative pads first, as differentiable slices (views)
  for (const DimPad& p : dims) {
    int64_t n = cropped.size(p.dim);
    if (p.before < 0 || p.after < 0)
      cropped =
          cropped.slice(p.dim, std::max<int64_t>(-p.before, 0), n - std::max<int64_t>(-p.after, 0));
  }
  Shape out_shape = cropped.sizes();
  std::vector<Interior> interior;
  for (const DimPad& p : dims) {
    int64_t lo = std::max<int64_t>(p.before, 0), hi = std::max<int64_t>(p.after, 0);
    if (lo == 0 && hi == 0) continue;
    interior.push_back({p.dim, lo, cropped.size(p.dim)});
    out_shape[p.dim] += lo + hi;
  }
  if (interior.empty()) return cropped.clone();  // torch's pad never aliases its input
  Tensor y = raw::empty(out_shape, x.dtype(), x.device());
  raw::fill_(y, value);
  Tensor inside = y;
  for (const Interior& i : interior)
    inside = raw::slice(inside, i.dim, i.start, i.start + i.length, 1);
  raw::copy_(inside, cropped);
  if (autograd::needs_grad({&cropped}))
    autograd::record(
        "ConstantPadBackward", {cropped}, y, [interior](const autograd::TensorList& g) {
          Tensor r = g[0];  // (out_shape) -> the interior, differentiable for double backward
          for (const Interior& i : interior) r = r.slice(i.dim, i.start, i.start + i.length);
          return autograd::TensorList{r};
        });
  return y;
}

// The source position of output position o of a dim of size n padded by `before`.
int64_t source_index(PadMode mode, int64_t o, int64_t before, int64_t n) {
  int64_t p = o - before;
  switch (mode) {
    case PadMode::reflect:  // mirror without repeating the edge: -1 -> 1, n -> n-2
      if (p < 0) p = -p;
      if (p >= n) p = 2 * (n - 1) - p;
      return p;
    case PadMode::replicate: return std::clamp<int64_t>(p, 0, n - 1);
    case PadMode::circular: return ((p % n) + n) % n;
    case PadMode::constant: break;
  }
  return p;
}

const char* mode_name(PadMode m) {
  switch (m) {
    case PadMode::reflect: return "reflect";
    case PadMode::replicate: return "replicate";
    case PadMode::circular: return "circular";
    case PadMode::constant: break;
  }
  return "constant";
}

Tensor index_pad(const Tensor& x, const std::vector<DimPad>& dims, PadMode mode,
                 const std::vector<int64_t>& pads) {
  const int64_t k = static_cast<int64_t>(dims.size());
  if (x.dim() != k + 1 && x.dim() != k + 2)
    fail<ShapeError>("pad", mode_name(mode), " padding of ", k, " dim(s) (pads ", str(pads),
                     ") needs a ", k + 1, "-D or ", k + 2, "-D input, got shape ", str(x.sizes()));
  for (const DimPad& p : dims) {
    int64_t n = x.size(p.dim);
    bool bad = n == 0;
    if (mode == PadMode::reflect) bad = bad || p.before >= n || p.after >= n;
    if (mode == PadMode::circular) bad = bad || p.before > n || p.after > n;
    if (bad)
      fail<ShapeError>("pad", mode_name(mode), " pads (", p.before, ", ", p.after, ") of dim ",
                       p.dim, " do not fit its size ", n, " (input shape ", str(x.sizes()),
                       mode == PadMode::reflect    ? "; reflect pads must be < the size)"
                       : mode == PadMode::circular ? "; circular pads must be <= the size)"
                                                   : ")");
  }
  Tensor y = x;
  for (const DimPad& p : dims) {
    int64_t n = x.size(p.dim), out = n + p.before + p.after;
    if (p.before == 0 && p.after == 0) continue;
    std::vector<int64_t> idx(out);
    for (int64_t o = 0; o < out; ++o) idx[o] = source_index(mode, o, p.before, n);
    y = index_select(y, p.dim, from_vector(idx, x.device()));
  }
  return y.storage() == x.storage() ? y.clone() : y;
}

}  // namespace

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, std::string_view mode, double value) {
  const profiler::OpScope profile("pad");
  raw::check_defined("pad", x);
  PadMode m = parse_mode(mode);
  if (pads.size() % 2 != 0)
    fail<ValueError>("pad", "pads ", str(pads),
                     " must have an even length (before, after per dim)");
  const int64_t k = static_cast<int64_t>(pads.size()) / 2;
  if (k > x.dim())
    fail<ShapeError>("pad", "pads ", str(pads), " pad ", k, " dims but the input of shape ",
                     str(x.sizes()), " has ", x.dim());
  if (m != PadMode::constant && value != 0.0)
    fail<ValueError>("pad", "value ", value, " is only used by mode 'constant', not '",
                     std::string(mode), "'");
  std::vector<DimPad> dims;
  for (int64_t i = 0; i < k; ++i) {
    DimPad p{x.dim() - 1 - i, pads[2 * i], pads[2 * i + 1]};
    if (x.size(p.dim) + p.before + p.after < 0)
      fail<ShapeError>("pad", "pads ", str(pads), " give dim ", p.dim, " of the input of shape ",
                       str(x.sizes()), " a negative size ", x.size(p.dim) + p.before + p.after);
    dims.push_back(p);
  }
  return m == PadMode::constant ? constant_pad(x, dims, value) : index_pad(x, dims, m, pads);
}

}  // namespace ember::nn::functional
