#include "optim/clip.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  if (!(norm_type > 0))
    fail<ValueError>("clip_grad_norm_", "norm_type must be positive, got ", norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad().detach());
  if (grads.empty()) return 0.0;
  // One fused reduction per device (Backend::multi_norm), in f64.
  const double sum = raw::multi_tensor_norm(grads, norm_type);
  const double total = std::isinf(norm_type) ? sum : std::pow(sum, 1.0 / norm_type);
  if (error_if_nonfinite && !std::isfinite(total))
    fail<ValueError>("clip_grad_norm_", "the total norm of order ", norm_type,
                     " of the gradients is ", total);
  double coef = max_norm / (total + 1e-6);
  if (coef < 1.0)
    for (Tensor& g : grads) g.mul_(coef);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0))
    fail<ValueError>("clip_grad_value_", "clip_value must be >= 0, got ", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    Tensor lo = full({}, -clip_value, {.dtype = g.dtype(), .device = g.device()});
    Tensor hi = full({}, clip_value, {.dtype = g.dtype(), .device = g.device()});
    g.copy_(minimum(maximum(g, lo), hi));
  }
}

}  // namespace ember::optim
