// nn::functional's normalize and cosine_similarity: torch's formulas on linalg::vector_norm,
// clamp_min and the elementwise ops, so their gradients are those ops'.
#include "autograd/autocast_policy.h"
#include "nn/functional.h"
#include "tensor/raw.h"

namespace ember::nn::functional {

// x / max(||x||_p, eps): the clamp keeps zero rows finite (they stay zero).
Tensor normalize(const Tensor& x, double p, int64_t dim, double eps) {
  if (autocast_policy::active())  // autocast: f32 (torch's norm runs in f32 on cuda)
    return autocast_policy::fp32([&](const Tensor& x_) { return normalize(x_, p, dim, eps); }, x);
  raw::check_defined("normalize", x);
  Tensor norm = clamp_min(linalg::vector_norm(x, p, {dim}, true), eps);
  return x / norm;
}

// torch >= 2.0 divides each input by its own clamped norm before the product (better
// conditioned than dividing the dot product by the product of norms, and bounded by 1).
// torch clamps under no_grad, so below eps its gradient still follows the norm; ember's
// clamp_min gives zero there: the two agree wherever ||x|| > eps.
Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim, double eps) {
  if (autocast_policy::active())  // autocast: f32 (torch's cuda list)
    return autocast_policy::fp32(
        [&](const Tensor& a, const Tensor& b) { return cosine_similarity(a, b, dim, eps); }, x1,
        x2);
  raw::check_defined("cosine_similarity", x1);
  raw::check_defined("cosine_similarity", x2);
  const Shape shape = broadcast_shapes("cosine_similarity", x1.sizes(), x2.sizes());
  const Tensor a = x1.expand(shape), b = x2.expand(shape);
  const Tensor na = clamp_min(linalg::vector_norm(a, 2.0, {dim}, true), eps);
  const Tensor nb = clamp_min(linalg::vector_norm(b, 2.0, {dim}, true), eps);
  return sum((a / na) * (b / nb), {dim});
}

}  // namespace ember::nn::functional
