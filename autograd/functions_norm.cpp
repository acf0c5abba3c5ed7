// Differentiable batch norm and group norm over x (N, C, S).
//
// Each runs its fused primitive and records one node whose backward is the fused backward
// primitive; under create_graph (grad mode on inside the backward) the gradient is instead
// written with differentiable ops, so it can be differentiated again. With g the incoming
// gradient and xhat = (x - mean) invstd:
//   batch norm, per channel over (N, S), gw = g w[c]:
//     training: dx = invstd (gw - mean(gw) - xhat mean(gw xhat))   (mean and invstd
//               depend on x: the last two terms are their gradient)
//     eval:     dx = invstd gw                                     (running statistics)
//     dw = sum_{N,S} g xhat,  db = sum_{N,S} g
//   group norm, per (n, group) over its (C/G) S values: dx as batch norm's training rule,
//     dw and db summed over (N, S) per channel.
// The running statistics are state, not part of the graph: the forward primitive updates
// them in place and nothing flows back into them (as in PyTorch).
#include "autograd/recording.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

bool wants_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// x (R, K, M) -> dx, normalized over dims {0, 2} (batch norm) or {2} (group norm as
// (N, G, K)), from the statistics recomputed with differentiable ops. gw = g w.
Tensor normalized_input_grad(const Tensor& gw, const Tensor& x, const DimList& dims, double eps) {
  Tensor xc = x - x.mean(dims, true);
  Tensor rstd = rsqrt((xc * xc).mean(dims, true) + eps);
  Tensor xhat = xc * rstd;
  return rstd * (gw - gw.mean(dims, true) - xhat * (gw * xhat).mean(dims, true));
}

Tensor per_channel(const Tensor& t) { return t.reshape({1, t.size(0), 1}); }  // (C) -> (1, C, 1)

// The batch norm gradients with differentiable ops (create_graph): x, dy (N, C, S).
TensorList batch_norm_grads_differentiable(const Tensor& dy, const Tensor& x, const Tensor& w,
                                           const Tensor& mean, const Tensor& invstd, bool training,
                                           double eps, bool need_x, bool need_w, bool need_b) {
  Tensor gw = w.defined() ? dy * per_channel(w) : dy;
  Tensor xhat;
  if (training) {
    Tensor xc = x - x.mean({0, 2}, true);
    xhat = xc * rsqrt((xc * xc).mean({0, 2}, true) + eps);
  } else {
    xhat = (x - per_channel(mean)) * per_channel(invstd);
  }
  Tensor dx;
  if (need_x) dx = training ? normalized_input_grad(gw, x, {0, 2}, eps) : gw * per_channel(invstd);
  return {dx, need_w ? (dy * xhat).sum({0, 2}) : Tensor(), need_b ? dy.sum({0, 2}) : Tensor()};
}

// The group norm gradients with differentiable ops: x, dy (N, C, S) seen as (N, G, K).
TensorList group_norm_grads_differentiable(const Tensor& dy, const Tensor& x, const Tensor& w,
                                           int64_t groups, double eps, bool need_x, bool need_w,
                                           bool need_b) {
  const Shape shape = x.sizes(), grouped{x.size(0), groups, -1};
  Tensor xg = x.reshape(grouped);  // (N, G, K)
  Tensor dx;
  if (need_x) {
    Tensor gw = (w.defined() ? dy * per_channel(w) : dy).reshape(grouped);
    dx = normalized_input_grad(gw, xg, {2}, eps).reshape(shape);
  }
  Tensor dw;
  if (need_w) {
    Tensor xc = xg - xg.mean({2}, true);
    Tensor xhat = (xc * rsqrt((xc * xc).mean({2}, true) + eps)).reshape(shape);
    dw = (dy * xhat).sum({0, 2});
  }
  return {dx, dw, need_b ? dy.sum({0, 2}) : Tensor()};
}

}  // namespace

Tensor batch_norm_ncs(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Tensor& running_mean, const Tensor& running_var,
                      const Tensor& num_batches_tracked, bool training, double momentum,
                      double eps) {
  auto [y, mean, invstd] =
      raw::batch_norm_forward(x, weight, bias, running_mean, running_var, num_batches_tracked,
                              {.training = training, .momentum = momentum, .eps = eps});
  if (needs_grad({&x, &weight, &bias})) {
    const bool need_x = wants_grad(x), need_w = wants_grad(weight), need_b = wants_grad(bias);
    SavedTensor sx(x, false), sw(weight, false);
    Tensor mean_ = mean, invstd_ = invstd;  // (C), never exposed, so never modified in place
    record("NativeBatchNormBackward", {x, weight, bias}, y, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor(), Tensor(), Tensor()};
      Tensor xx = sx.unpack(), ww = sw.unpack();
      if (autograd::GradMode::is_enabled())
        return batch_norm_grads_differentiable(g[0], xx, ww, mean_, invstd_, training, eps, need_x,
                                               need_w, need_b);
      auto [dx, dw, db] =
          raw::batch_norm_backward(g[0], xx, mean_, invstd_, ww, training, need_x, need_w, need_b);
      return TensorList{dx, dw, db};
    });
  }
  return y;
}

Tensor group_norm_ncs(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                      double eps) {
  auto [y, mean, rstd] = raw::group_norm_forward(x, weight, bias, groups, eps);
  if (needs_grad({&x, &weight, &bias})) {
    const bool need_x = wants_grad(x), need_w = wants_grad(weight), need_b = wants_grad(bias);
    SavedTensor sx(x, false), sw(weight, false);
    Tensor mean_ = mean, rstd_ = rstd;  // (N, G), never exposed
    record("NativeGroupNormBackward", {x, weight, bias}, y, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor(), Tensor(), Tensor()};
      Tensor xx = sx.unpack(), ww = sw.unpack();
      if (autograd::GradMode::is_enabled())
        return group_norm_grads_differentiable(g[0], xx, ww, groups, eps, need_x, need_w, need_b);
      auto [dx, dw, db] =
          raw::group_norm_backward(g[0], xx, mean_, rstd_, ww, groups, need_x, need_w, need_b);
      return TensorList{dx, dw, db};
    });
  }
  return y;
}

}  // namespace ember
