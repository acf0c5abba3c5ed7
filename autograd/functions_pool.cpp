// Differentiable 2-D pooling (ember::pool2d: max, avg, adaptive of each).
//
// The backward is linear in the incoming gradient g, and its own gradient is the adjoint:
//   max: dx = scatter of g at the forward's indices  ->  its gradient gathers u at them;
//   avg: dx = g / divisor spread over each window     ->  its gradient is avg pooling of u
// (<u, B(g)> = sum_o g_o sum_{h in window o} u_h / divisor_o = <g, avg_pool(u)>), so double
// backward works to any order.
#include <string>

#include "autograd/recording.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::TensorList;

namespace {

const char* op_name(const Pool2dParams& p) {
  if (p.mode == PoolMode::max) return p.adaptive ? "adaptive_max_pool2d" : "max_pool2d";
  return p.adaptive ? "adaptive_avg_pool2d" : "avg_pool2d";
}

// The backward op's name: a literal, since the profiler keeps the pointer until it stops
// (a std::string built here dangled, and the profile printed what reused its memory).
const char* backward_name(const Pool2dParams& p) {
  if (p.mode == PoolMode::max)
    return p.adaptive ? "adaptive_max_pool2d_backward" : "max_pool2d_backward";
  return p.adaptive ? "adaptive_avg_pool2d_backward" : "avg_pool2d_backward";
}

// The gradient of pool2d for the input of shape x_shape: g and indices (max) of the values'
// shape.
Tensor pool_input_grad(const Tensor& g, const Tensor& indices, const Shape& x_shape,
                       const Pool2dParams& p) {
  const char* op = backward_name(p);
  Tensor dx = raw::pool2d_backward(op, x_shape, g, indices, p);
  if (needs_grad({&g})) {
    const Shape gs = g.sizes();
    record(std::string(op) + "_backward", {g}, dx, [=](const TensorList& u) {
      if (!u[0].defined()) return TensorList{Tensor()};
      if (p.mode == PoolMode::avg)
        return TensorList{pool2d(u[0], p, gs.end()[-2], gs.end()[-1]).first};
      // u (..., H, W) gathered at the flat plane indices (..., P, Q).
      const int64_t hw = x_shape.end()[-2] * x_shape.end()[-1], pq = gs.end()[-2] * gs.end()[-1];
      Tensor planes = u[0].reshape({-1, hw});
      return TensorList{gather(planes, 1, indices.reshape({-1, pq})).reshape(gs)};
    });
  }
  return dx;
}

}  // namespace

std::pair<Tensor, Tensor> pool2d(const Tensor& x, const Pool2dParams& params, int64_t output_h,
                                 int64_t output_w) {
  auto [y, indices] = raw::pool2d_forward(op_name(params), x, params, output_h, output_w);
  if (needs_grad({&x})) {
    const Shape xs = x.sizes();
    autograd::SavedTensor idx(indices, false);  // returned to the user: version-checked
    record(std::string(op_name(params)) + "_backward", {x}, y, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor()};
      return TensorList{pool_input_grad(g[0], idx.unpack(), xs, params)};
    });
  }
  return {y, indices};
}

}  // namespace ember
