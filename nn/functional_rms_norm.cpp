// nn::functional::rms_norm (issue 15): torch's shape checks and default eps, then the
// fused rows primitive of autograd/functions_rms_norm.cpp.
#include <algorithm>
#include <limits>

#include "autograd/autocast_policy.h"
#include "nn/functional.h"
#include "tensor/raw.h"

namespace ember::nn::functional {

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                std::optional<double> eps) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& x_, const Tensor& w) { return rms_norm(x_, normalized_shape, w, eps); },
        x, weight);
  raw::check_defined("rms_norm", x);
  auto n = static_cast<int64_t>(normalized_shape.size());
  if (n == 0 || n > x.dim() ||
      !std::equal(normalized_shape.begin(), normalized_shape.end(), x.sizes().end() - n))
    fail<ShapeError>("rms_norm", "normalized_shape ", str(normalized_shape),
                     " does not match the trailing dims of input shape ", str(x.sizes()));
  if (weight.defined() && weight.sizes() != normalized_shape)
    fail<ShapeError>("rms_norm", "weight of shape ", str(weight.sizes()), " must be ",
                     str(normalized_shape));
  if (!is_floating(x.dtype()))
    fail<DTypeError>("rms_norm", "expected a floating input, got ", x.dtype());
  // torch.finfo(x.dtype).eps when not given.
  const double e = eps                       ? *eps
                   : x.dtype() == DType::f64 ? std::numeric_limits<double>::epsilon()
                                             : std::numeric_limits<float>::epsilon();
  // The fused primitive normalizes rows: x as (R, N), N the normalized elements.
  int64_t R = 1, N = 1;
  for (int64_t d = 0; d < x.dim() - n; ++d) R *= x.size(d);
  for (int64_t s : normalized_shape) N *= s;
  Tensor w = weight.defined() ? weight.reshape({N}) : weight;
  return ember::rms_norm_rows(x.reshape({R, N}), w, e).reshape(x.sizes());
}

}  // namespace ember::nn::functional
