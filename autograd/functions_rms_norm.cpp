// Differentiable RMS norm over the last dim of x (R, N) (issue 15).
//
// Runs the fused primitive and records one node whose backward is the fused backward
// primitive; under create_graph (grad mode on inside the backward) the gradient is
// written with differentiable ops instead, so it can be differentiated again. With
// rstd = 1 / sqrt(mean(x^2) + eps) and g = dy w:
//   dx = rstd g - x rstd^3 mean(g x)   (the second term is rstd's own gradient)
//   dw = sum_rows dy x rstd
#include "autograd/recording.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

bool wants_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// The gradients with differentiable ops (create_graph): x (R, N), dy (R, N).
TensorList rms_norm_grads_differentiable(const Tensor& dy, const Tensor& x, const Tensor& w,
                                         double eps, bool need_x, bool need_w) {
  Tensor rstd = rsqrt((x * x).mean({1}, true) + eps);  // (R, 1)
  Tensor g = w.defined() ? dy * w : dy;
  Tensor dx;
  if (need_x) dx = rstd * g - x * (rstd * rstd * rstd) * (g * x).mean({1}, true);
  return {dx, need_w ? (dy * x * rstd).sum({0}) : Tensor()};
}

}  // namespace

Tensor rms_norm_rows(const Tensor& x, const Tensor& weight, double eps) {
  auto [y, rstd] = raw::rms_norm_forward(x, weight, eps);
  if (needs_grad({&x, &weight})) {
    const bool need_x = wants_grad(x), need_w = wants_grad(weight);
    SavedTensor sx(x, false), sw(weight, false);
    Tensor rstd_ = rstd;  // (R), never exposed, so never modified in place
    record("RmsNormBackward", {x, weight}, y, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor(), Tensor()};
      Tensor xx = sx.unpack(), ww = sw.unpack();
      if (autograd::GradMode::is_enabled())
        return rms_norm_grads_differentiable(g[0], xx, ww, eps, need_x, need_w);
      auto [dx, dw] = raw::rms_norm_backward(g[0], xx, rstd_, ww, need_w);
      return TensorList{need_x ? dx : Tensor(), dw};
    });
  }
  return y;
}

}  // namespace ember
