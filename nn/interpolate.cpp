// nn::functional::interpolate, as torch.nn.functional.interpolate for mode "nearest"
// ((N, C, L) and (N, C, H, W)) and "bilinear" ((N, C, H, W)).
//   nearest:  src = min(floor(dst * scale), in - 1), computed in f32 as torch does, with
//             scale = 1 / scale_factor when a scale factor is given, else in / out; one
//             index_select per resized dim (its gradient sums g into the source rows).
//   bilinear: the backend's upsample_bilinear primitive (tensor/backend_args.h: torch's source
//             index, the four-corner lerp), a recorded node whose backward is the
//             primitive's gather-style backward.
#include <algorithm>
#include <cmath>

#include "autograd/recording.h"
#include "nn/functional.h"
#include "tensor/profiler.h"

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

// torch's area_pixel_compute_scale: (in-1)/(out-1) with align_corners, else as nearest.
double bilinear_scale(const std::vector<double>& factors, size_t i, int64_t in, int64_t out,
                      bool align_corners) {
  if (align_corners) return out > 1 ? static_cast<double>(in - 1) / (out - 1) : 0.0;
  return scale_of(factors, i, in, out);
}

Tensor bilinear(const Tensor& x, int64_t P, int64_t Q, const UpsampleBilinearParams& p);

// The gradient of bilinear() for an (H, W) input; linear in g, so its own gradient is
// bilinear() again (double backward).
Tensor bilinear_backward(const Tensor& g, int64_t H, int64_t W, const UpsampleBilinearParams& p) {
  Tensor gx = raw::upsample_bilinear_backward(g, H, W, p);  // (N, C, H, W)
  if (autograd::needs_grad({&g})) {
    const int64_t P = g.size(2), Q = g.size(3);
    autograd::record("UpsampleBilinearBackwardBackward", {g}, gx,
                     [P, Q, p](const autograd::TensorList& gg) {
                       return autograd::TensorList{bilinear(gg[0], P, Q, p)};
                     });
  }
  return gx;
}

// x (N, C, H, W) -> (N, C, P, Q) through the backend's bilinear primitive.
Tensor bilinear(const Tensor& x, int64_t P, int64_t Q, const UpsampleBilinearParams& p) {
  Tensor y = raw::upsample_bilinear_forward(x, P, Q, p);
  if (autograd::needs_grad({&x})) {
    const int64_t H = x.size(2), W = x.size(3);
    autograd::record("UpsampleBilinearBackward", {x}, y, [H, W, p](const autograd::TensorList& g) {
      return autograd::TensorList{bilinear_backward(g[0], H, W, p)};
    });
  }
  return y;
}

}  // namespace

Tensor interpolate(const Tensor& x, const InterpolateOptions& o) {
  const profiler::OpScope profile("interpolate");
  raw::check_defined("interpolate", x);
  const bool is_bilinear = o.mode == "bilinear";
  if (!is_bilinear && o.mode != "nearest")
    fail<ValueError>("interpolate", "mode must be 'nearest' or 'bilinear', got '", o.mode, "'");
  if (is_bilinear ? x.dim() != 4 : (x.dim() != 3 && x.dim() != 4))
    fail<ShapeError>("interpolate", "mode '", o.mode, "' needs a ",
                     is_bilinear ? "4-D (N, C, H, W)" : "3-D (N, C, L) or 4-D (N, C, H, W)",
                     " input, got shape ", str(x.sizes()));
  if (!is_bilinear && o.align_corners)
    fail<ValueError>("interpolate", "align_corners can only be set with mode 'bilinear'");
  if (is_bilinear && !is_floating(x.dtype()))
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
  if (is_bilinear) {
    const bool align = o.align_corners.value_or(false);
    UpsampleBilinearParams p{align, bilinear_scale(factors, 0, x.size(2), out[0], align),
                             bilinear_scale(factors, 1, x.size(3), out[1], align)};
    return bilinear(x, out[0], out[1], p);
  }
  Tensor y = x;
  for (size_t i = 0; i < spatial; ++i)
    y = nearest_dim(y, static_cast<int64_t>(i) + 2, out[i], factors, i);
  return y;
}

}  // namespace ember::nn::functional
