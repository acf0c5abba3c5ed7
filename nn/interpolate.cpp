// nn::functional::interpolate, as torch.nn.functional.interpolate for mode "nearest"
// ((N, C, L) and (N, C, H, W)) and "bilinear" ((N, C, H, W)). Both are separable, so each
// resized dim is a gather along it:
//   nearest:  src = min(floor(dst * scale), in - 1), computed in f32 as torch does, with
//             scale = 1 / scale_factor when a scale factor is given, else in / out;
//   bilinear: src = scale * dst (align_corners, scale = (in-1)/(out-1)) or
//             max(scale * (dst + 0.5) - 0.5, 0) (scale as nearest's), i0 = floor(src),
//             i1 = min(i0 + 1, in - 1), y = (1-l) x[i0] + l x[i1] with l = src - i0;
//             H first, then W: the same sum as torch's four-corner formula.
// The gradients are index_select's (g summed into the source rows), scaled by the weights.
#include <algorithm>
#include <cmath>

#include "nn/functional.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::nn::functional {

namespace {

// torch's compute_scales_value: the user's factor inverted, else in/out.
double scale_of(const std::vector<double>& factors, size_t i, int64_t in, int64_t out) {
  if (!factors.empty()) return 1.0 / factors[i];
  return static_cast<double>(in) / static_cast<double>(out);
}

Tensor nearest_dim(const Tensor& x, int64_t dim, int64_t out, const std::vector<double>& factors,
                   size_t i) {
  int64_t in = x.size(dim);
  const float scale = static_cast<float>(scale_of(factors, i, in, out));
  std::vector<int64_t> idx(out);
  for (int64_t o = 0; o < out; ++o)
    idx[o] =
        std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<float>(o) * scale)), in - 1);
  return index_select(x, dim, from_vector(idx, x.device()));
}

Tensor bilinear_dim(const Tensor& x, int64_t dim, int64_t out, const std::vector<double>& factors,
                    size_t i, bool align_corners) {
  int64_t in = x.size(dim);
  double scale = align_corners ? (out > 1 ? static_cast<double>(in - 1) / (out - 1) : 0.0)
                               : scale_of(factors, i, in, out);
  std::vector<int64_t> i0(out), i1(out);
  std::vector<double> w1(out);
  for (int64_t o = 0; o < out; ++o) {
    double src = align_corners ? scale * o : std::max(scale * (o + 0.5) - 0.5, 0.0);
    int64_t lo = std::min<int64_t>(static_cast<int64_t>(src), in - 1);
    i0[o] = lo;
    i1[o] = lo < in - 1 ? lo + 1 : lo;
    w1[o] = src - static_cast<double>(lo);
  }
  Shape wshape(x.dim(), 1);
  wshape[dim] = out;
  Tensor l1 = from_vector(w1, wshape, x.device()).to(x.dtype());  // (1, .., out, .., 1)
  Tensor a = index_select(x, dim, from_vector(i0, x.device()));
  Tensor b = index_select(x, dim, from_vector(i1, x.device()));
  return a + (b - a) * l1;
}

}  // namespace

Tensor interpolate(const Tensor& x, const InterpolateOptions& o) {
  const profiler::OpScope profile("interpolate");
  raw::check_defined("interpolate", x);
  const bool bilinear = o.mode == "bilinear";
  if (!bilinear && o.mode != "nearest")
    fail<ValueError>("interpolate", "mode must be 'nearest' or 'bilinear', got '", o.mode, "'");
  if (bilinear ? x.dim() != 4 : (x.dim() != 3 && x.dim() != 4))
    fail<ShapeError>("interpolate", "mode '", o.mode, "' needs a ",
                     bilinear ? "4-D (N, C, H, W)" : "3-D (N, C, L) or 4-D (N, C, H, W)",
                     " input, got shape ", str(x.sizes()));
  if (!bilinear && o.align_corners)
    fail<ValueError>("interpolate", "align_corners can only be set with mode 'bilinear'");
  if (bilinear && !is_floating(x.dtype()))
    fail<DTypeError>("interpolate", "bilinear needs a floating input, got ", x.dtype());
  if (o.size.empty() == o.scale_factor.empty())
    fail<ValueError>("interpolate", "give exactly one of size and scale_factor (input shape ",
                     str(x.sizes()), ")");
  const size_t spatial = static_cast<size_t>(x.dim() - 2);
  auto fits = [&](size_t n) { return n == 1 || n == spatial; };
  if (!fits(o.size.size() + o.scale_factor.size()))
    fail<ShapeError>("interpolate", "size ", str(o.size), " or scale_factor needs 1 or ", spatial,
                     " entries for the input of shape ", str(x.sizes()));
  std::vector<double> factors;
  for (size_t i = 0; i < spatial && !o.scale_factor.empty(); ++i)
    factors.push_back(o.scale_factor[o.scale_factor.size() == 1 ? 0 : i]);
  Shape out(spatial);
  for (size_t i = 0; i < spatial; ++i) {
    int64_t in = x.size(static_cast<int64_t>(i) + 2);
    if (!factors.empty()) {
      if (!(factors[i] > 0))
        fail<ValueError>("interpolate", "scale_factor must be positive, got ", factors[i]);
      out[i] = static_cast<int64_t>(std::floor(static_cast<double>(in) * factors[i]));
    } else {
      out[i] = o.size[o.size.size() == 1 ? 0 : i];
    }
    if (out[i] <= 0 || in <= 0)
      fail<ShapeError>("interpolate", "input of shape ", str(x.sizes()), " resized to spatial ",
                       "sizes ", str(out), ": every input and output size must be positive");
  }
  Tensor y = x;
  for (size_t i = 0; i < spatial; ++i) {
    int64_t dim = static_cast<int64_t>(i) + 2;
    y = bilinear ? bilinear_dim(y, dim, out[i], factors, i, o.align_corners.value_or(false))
                 : nearest_dim(y, dim, out[i], factors, i);
  }
  return y;
}

}  // namespace ember::nn::functional
