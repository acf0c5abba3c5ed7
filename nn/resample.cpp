#include "nn/resample.h"

#include <sstream>
#include <utility>

#include "tensor/raw.h"

namespace ember::nn {

namespace {
std::string fmt_list(const auto& v) {
  std::ostringstream os;
  if (v.size() == 1) {
    os << v[0];
    return os.str();
  }
  os << "(";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ")";
  return os.str();
}
}  // namespace

Upsample::Upsample(F::InterpolateOptions o) : options(std::move(o)) {
  if (options.size.empty() == options.scale_factor.empty())
    fail<ValueError>("Upsample", "give exactly one of size and scale_factor");
  if (options.mode != "nearest" && options.mode != "bilinear")
    fail<ValueError>("Upsample", "mode must be 'nearest' or 'bilinear', got '", options.mode, "'");
}

std::string Upsample::extra_repr() const {
  std::string s = options.size.empty() ? "scale_factor=" + fmt_list(options.scale_factor)
                                       : "size=" + fmt_list(options.size);
  return s + ", mode='" + options.mode + "'";
}

Dropout2d::Dropout2d(double prob) : p(prob) {
  if (!(p >= 0.0 && p <= 1.0))
    fail<ValueError>("Dropout2d", "probability must be in [0, 1], got ", p);
}

Tensor Dropout2d::forward(const Tensor& x) {
  raw::check_defined("Dropout2d", x);
  if (x.dim() != 3 && x.dim() != 4)
    fail<ShapeError>("Dropout2d", "expects a (N, C, H, W) or (C, H, W) input, got shape ",
                     str(x.sizes()));
  if (!is_training() || p == 0.0) return x;
  if (p == 1.0) return x * 0.0;
  // One keep draw per channel: (N, C, 1, 1) or (C, 1, 1), broadcast over H and W.
  Shape mask_shape = x.sizes();
  mask_shape[x.dim() - 1] = 1;
  mask_shape[x.dim() - 2] = 1;
  Tensor keep = (rand(mask_shape, {.dtype = x.dtype(), .device = x.device()}) >= p).to(x.dtype());
  return x * (keep * (1.0 / (1.0 - p)));
}

std::string Dropout2d::extra_repr() const {
  std::ostringstream os;
  os << "p=" << p << ", inplace=False";
  return os.str();
}

}  // namespace ember::nn
