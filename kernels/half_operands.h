// bf16/f16 operands of a fused primitive (norms, cross entropy) run through its f32 kernel
// (issue 16): each 16-bit input is widened to an f32 copy, each 16-bit output gets an f32
// stand-in, and finish() rounds the stand-ins into the outputs once. The math is f32 with
// one rounding on store, as PyTorch's opmath; the cost is a widening pass over the
// operands. The cpu and the cuda/sim backends share it, so every device rounds alike.
#pragma once

#include <utility>
#include <vector>

#include "tensor/backend.h"
#include "tensor/raw.h"

namespace ember {

class HalfOperands {
 public:
  explicit HalfOperands(Backend& be) : be_(be) {}
  HalfOperands(const HalfOperands&) = delete;
  HalfOperands& operator=(const HalfOperands&) = delete;

  // An input: its f32 copy when it is bf16/f16, else t (undefined stays undefined).
  Tensor in(const Tensor& t) {
    if (!t.defined() || !is_half(t.dtype())) return t;
    Tensor w = raw::empty(t.sizes(), DType::f32, t.device());
    be_.copy(w, t);
    return w;
  }
  // An output the kernel writes: an f32 stand-in rounded into t by finish().
  Tensor out(const Tensor& t) {
    if (!t.defined() || !is_half(t.dtype())) return t;
    Tensor w = raw::empty(t.sizes(), DType::f32, t.device());
    back_.emplace_back(t, w);
    return w;
  }
  // Updated in place (batch norm's running statistics): widened, then rounded back.
  Tensor in_out(const Tensor& t) {
    Tensor w = in(t);
    if (t.defined() && !w.is_same(t)) back_.emplace_back(t, w);
    return w;
  }
  // Rounds every stand-in into its 16-bit tensor.
  void finish() {
    for (const auto& p : back_) be_.copy(p.first, p.second);
    back_.clear();
  }

 private:
  Backend& be_;
  std::vector<std::pair<Tensor, Tensor>> back_;  // (16-bit tensor, its f32 stand-in)
};

// The fused primitives' bf16/f16 entry points: widen, run the backend's own f32 method,
// round the outputs. A backend's method calls these when its x (logits) is bf16/f16.
namespace half_ops {

inline void cross_entropy_forward(Backend& be, const CrossEntropyForwardArgs& a,
                                  const CrossEntropyParams& p) {
  HalfOperands h(be);
  be.cross_entropy_forward({.loss = h.out(a.loss),
                            .lse = h.out(a.lse),
                            .logits = h.in(a.logits),
                            .target = a.target,
                            .weight = h.in(a.weight)},
                           p);
  h.finish();
}
inline void cross_entropy_backward(Backend& be, const CrossEntropyBackwardArgs& a,
                                   const CrossEntropyParams& p) {
  HalfOperands h(be);
  be.cross_entropy_backward({.grad_logits = h.out(a.grad_logits),
                             .grad_loss = h.in(a.grad_loss),
                             .logits = h.in(a.logits),
                             .lse = h.in(a.lse),
                             .target = a.target,
                             .weight = h.in(a.weight)},
                            p);
  h.finish();
}

inline void layer_norm_forward(Backend& be, const LayerNormForwardArgs& a,
                               const LayerNormParams& p) {
  HalfOperands h(be);
  be.layer_norm_forward({.y = h.out(a.y),
                         .mean = h.out(a.mean),
                         .rstd = h.out(a.rstd),
                         .x = h.in(a.x),
                         .weight = h.in(a.weight),
                         .bias = h.in(a.bias)},
                        p);
  h.finish();
}
inline void layer_norm_backward(Backend& be, const LayerNormBackwardArgs& a,
                                const LayerNormParams& p) {
  HalfOperands h(be);
  be.layer_norm_backward({.grad_x = h.out(a.grad_x),
                          .grad_weight = h.out(a.grad_weight),
                          .grad_bias = h.out(a.grad_bias),
                          .grad_y = h.in(a.grad_y),
                          .x = h.in(a.x),
                          .mean = h.in(a.mean),
                          .rstd = h.in(a.rstd),
                          .weight = h.in(a.weight)},
                         p);
  h.finish();
}

inline void rms_norm_forward(Backend& be, const RmsNormForwardArgs& a, const RmsNormParams& p) {
  HalfOperands h(be);
  be.rms_norm_forward(
      {.y = h.out(a.y), .rstd = h.out(a.rstd), .x = h.in(a.x), .weight = h.in(a.weight)}, p);
  h.finish();
}
inline void rms_norm_backward(Backend& be, const RmsNormBackwardArgs& a, const RmsNormParams& p) {
  HalfOperands h(be);
  be.rms_norm_backward({.grad_x = h.out(a.grad_x),
                        .grad_weight = h.out(a.grad_weight),
                        .grad_y = h.in(a.grad_y),
                        .x = h.in(a.x),
                        .rstd = h.in(a.rstd),
                        .weight = h.in(a.weight)},
                       p);
  h.finish();
}

inline void batch_norm_forward(Backend& be, const BatchNormForwardArgs& a,
                               const BatchNormParams& p) {
  HalfOperands h(be);
  be.batch_norm_forward({.y = h.out(a.y),
                         .mean = h.out(a.mean),
                         .invstd = h.out(a.invstd),
                         .x = h.in(a.x),
                         .weight = h.in(a.weight),
                         .bias = h.in(a.bias),
                         .running_mean = h.in_out(a.running_mean),
                         .running_var = h.in_out(a.running_var),
                         .num_batches_tracked = a.num_batches_tracked},
                        p);
  h.finish();
}
inline void batch_norm_backward(Backend& be, const BatchNormBackwardArgs& a,
                                const BatchNormParams& p) {
  HalfOperands h(be);
  be.batch_norm_backward({.grad_x = h.out(a.grad_x),
                          .grad_weight = h.out(a.grad_weight),
                          .grad_bias = h.out(a.grad_bias),
                          .grad_y = h.in(a.grad_y),
                          .x = h.in(a.x),
                          .mean = h.in(a.mean),
                          .invstd = h.in(a.invstd),
                          .weight = h.in(a.weight)},
                         p);
  h.finish();
}

inline void group_norm_forward(Backend& be, const GroupNormForwardArgs& a,
                               const GroupNormParams& p) {
  HalfOperands h(be);
  be.group_norm_forward({.y = h.out(a.y),
                         .mean = h.out(a.mean),
                         .rstd = h.out(a.rstd),
                         .x = h.in(a.x),
                         .weight = h.in(a.weight),
                         .bias = h.in(a.bias)},
                        p);
  h.finish();
}
inline void group_norm_backward(Backend& be, const GroupNormBackwardArgs& a,
                                const GroupNormParams& p) {
  HalfOperands h(be);
  be.group_norm_backward({.grad_x = h.out(a.grad_x),
                          .grad_weight = h.out(a.grad_weight),
                          .grad_bias = h.out(a.grad_bias),
                          .grad_y = h.in(a.grad_y),
                          .x = h.in(a.x),
                          .mean = h.in(a.mean),
                          .rstd = h.in(a.rstd),
                          .weight = h.in(a.weight)},
                         p);
  h.finish();
}

}  // namespace half_ops

}  // namespace ember
