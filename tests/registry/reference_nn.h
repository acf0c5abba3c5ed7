// Plain-loop double references of the nn and optimizer primitives (convolution,
// attention, cross entropy, layer norm, embedding, the fused optimizer steps and the
// multi-tensor norm), with the same rules as reference.h: nothing here calls an ember op.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "registry/reference.h"
#include "tensor/backend.h"

namespace ember::ref {

// ---- convolution -----------------------------------------------------------------------
// x (N, C, H, W), w (K, C/groups, R, S), bias (K) or nullptr -> (N, K, P, Q).
RefTensor conv2d(const RefTensor& x, const RefTensor& w, const RefTensor* bias,
                 const Conv2dParams& p);
// The gradient for an input of shape x_shape: grad_out (N, K, P, Q), w -> (N, C, H, W).
RefTensor conv2d_backward_input(const Shape& x_shape, const RefTensor& grad_out, const RefTensor& w,
                                const Conv2dParams& p);
// The gradient for a weight of shape w_shape: grad_out (N, K, P, Q), x -> (K, C/groups, R, S).
RefTensor conv2d_backward_weight(const Shape& w_shape, const RefTensor& grad_out,
                                 const RefTensor& x, const Conv2dParams& p);

// ---- attention ---------------------------------------------------------------------------
// softmax(q k^T scale + mask) v with AttentionParams' causal rule and Philox dropout
// (tensor/philox.h's dropout_keep): q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv),
// mask additive, broadcastable to (B, H, Tq, Tk), or nullptr. A row with no finite score
// has lse -inf and NaN outputs.
struct AttentionResult {
  RefTensor out;         // (B, H, Tq, Dv)
  RefTensor lse;         // (B, H, Tq), of the scores before dropout
  RefTensor dq, dk, dv;  // filled when a grad_out was given
};
AttentionResult attention(const RefTensor& q, const RefTensor& k, const RefTensor& v,
                          const RefTensor* mask, const AttentionParams& p,
                          const RefTensor* grad_out = nullptr);

// ---- cross entropy ------------------------------------------------------------------------
// Rows of logits (R, C) against class indices (R), CrossEntropyParams' formula; weight (C)
// or nullptr. Returns (loss (R), lse (R)).
std::pair<RefTensor, RefTensor> cross_entropy_rows(const RefTensor& logits, const RefTensor& target,
                                                   const RefTensor* weight,
                                                   const CrossEntropyParams& p);
// grad_logits (R, C) = grad_loss[r] * d row_r / d logits[r, :].
RefTensor cross_entropy_rows_backward(const RefTensor& grad_loss, const RefTensor& logits,
                                      const RefTensor& target, const RefTensor* weight,
                                      const CrossEntropyParams& p);
// torch.nn.functional.cross_entropy: input (C), (N, C) or (N, C, d1, ...); target class
// indices (input's shape without the class dim) or probabilities (the input's shape).
// reduction: 0 none, 1 mean, 2 sum.
RefTensor cross_entropy(const RefTensor& input, const RefTensor& target, bool soft_target,
                        const RefTensor* weight, int64_t ignore_index, double label_smoothing,
                        int reduction);

// ---- normalization and embedding ---------------------------------------------------------
// Normalizes over the last `norm_dims` dims (biased variance), then * weight + bias.
RefTensor layer_norm(const RefTensor& x, int64_t norm_dims, const RefTensor* weight,
                     const RefTensor* bias, double eps);
// Gradients of layer_norm for grad_out (x's shape): dx, and dweight and dbias (of the
// normalized shape; dweight only when a weight is given, which scales dx).
struct LayerNormGrads {
  RefTensor dx, dweight, dbias;
};
LayerNormGrads layer_norm_backward(const RefTensor& x, int64_t norm_dims, const RefTensor* weight,
                                   const RefTensor& grad_out, double eps);
// Rows of weight (num, dim) picked by indices -> (indices shape..., dim).
RefTensor embedding(const RefTensor& indices, const RefTensor& weight);
// The weight's gradient (num, dim): grad_out rows (indices shape..., dim) added at their
// indices, except where the index is padding_idx (wrapped when negative).
RefTensor embedding_backward(const RefTensor& indices, const RefTensor& grad_out, int64_t num,
                             std::optional<int64_t> padding_idx);

// ---- optimizer steps (torch.optim's formulas, kernels/cpu/optim.cpp's comment) -----------
// One Adam/AdamW update of one parameter at step count `step` (1 on the first update);
// vmax only with amsgrad. Everything is updated in place.
void adam_step(std::vector<double>& param, const std::vector<double>& grad,
               std::vector<double>& exp_avg, std::vector<double>& exp_avg_sq,
               std::vector<double>* max_exp_avg_sq, int64_t step, const AdamStepParams& p);
// One SGD update; buf only with momentum.
void sgd_step(std::vector<double>& param, const std::vector<double>& grad, std::vector<double>* buf,
              bool first_step, const SgdStepParams& p);
// Sum of |x|^q over every element (max |x| for q = inf), NaN propagating.
double multi_norm(const std::vector<RefTensor>& xs, double norm_type);

}  // namespace ember::ref
