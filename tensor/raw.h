// The raw ops: validate, allocate, dispatch to the backend. No autograd.
//
// Differentiable ops (autograd/) record their node and call these; derivative rules,
// kernels and optimizer steps call them directly. Each throws ember::Error naming the
// user-facing op (the `op` strings below) on bad input.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace ember::raw {

// ---- allocation ------------------------------------------------------------------------
Tensor empty(Shape shape, DType dtype, Device device);

// ---- views ---------------------------------------------------------------------------
Tensor as_strided(const Tensor& x, Shape sizes, Strides strides, int64_t offset);
Tensor view(const Tensor& x, const Shape& shape);
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const DimList& dims);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim);
Tensor alias(const Tensor& x);  // a new handle on the same view, without autograd state

// ---- copies --------------------------------------------------------------------------
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor cast(const Tensor& x, DType dtype);  // x itself when dtype matches
Tensor to_device(const Tensor& x, Device device);
void copy_(const Tensor& dst, const Tensor& src);  // broadcast, cast, cross-device
void fill_(const Tensor& dst, const Scalar& value);
void random_(const Tensor& dst, RandomDist dist, double a, double b);

// ---- elementwise ---------------------------------------------------------------------
DType unary_result_dtype(UnaryOp op, DType in);
Tensor unary(UnaryOp op, const Tensor& x, double arg = 0.0, double arg2 = 0.0);
DType binary_result_dtype(BinaryOp op, DType a, DType b);
// torch.result_type of two tensors: a 0-dim operand widens the result only when it is of
// a higher category (bool < integer < floating) than the dimensioned one.
DType result_type(const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, const Scalar& b);
Tensor binary(BinaryOp op, const Scalar& a, const Tensor& b);
// a <op>= b in place; b broadcasts to a and must not need a wider dtype than a's.
void binary_(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// The 0-dim tensor `value` would become when combined with x (PyTorch's scalar rule).
Tensor scalar_like(const Scalar& value, const Tensor& x);

// ---- reductions ------------------------------------------------------------------------
Tensor reduce(ReduceOp op, const Tensor& x, const DimList& dims, bool keepdim,
              int64_t correction = 0);
// Values and indices of the max (min) over one dim; `name` is the op errors name.
std::tuple<Tensor, Tensor> max_min(const Tensor& x, int64_t dim, bool keepdim, bool is_max,
                                   const char* name = nullptr);
// Inclusive scan of x along dim (reverse: from the end); integer and bool inputs scan in
// i64, f16/bf16 in f32 cast back.
Tensor scan(ScanOp op, const Tensor& x, int64_t dim, bool reverse = false);
// ---- sorting and sampling (issue 15, raw_sort.cpp) ------------------------------------------
// dim wrapped into [0, max(x.dim(), 1)); IndexError naming op, dim and x's shape otherwise.
int64_t sort_dim(const char* op, const Tensor& x, int64_t dim);
// {values, indices (i64)} of x sorted along dim, stably, NaN as the largest value (see
// Backend::sort); contiguous, of x's shape. `op` names errors ("sort", "topk", ...).
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending,
                               const char* op = "sort");
// torch.multinomial: probs (C) or (R, C) of non-negative finite weights -> (S) or (R, S)
// i64 categories, from the default generator (Backend::multinomial says how).
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement);
// Sums x down to `shape` (the reverse of broadcasting to x's shape).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra, softmax -------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor softmax(const Tensor& x, int64_t dim, bool log);

// ---- joining and indexing ------------------------------------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor tril_mask(int64_t rows, int64_t cols, int64_t diagonal, bool upper, Device device);
// IndexError naming op for a value of index (i64) outside [0, bound) that is not ignore:
// at once on the cpu, at the next synchronization on GPU devices (Backend::check_index_range).
void check_index_range(const char* op, const Tensor& index, int64_t bound, int64_t ignore);

// ---- convolution and attention (raw_nn.cpp) -----------------------------------------------
// Optional backend primitives: a backend without them runs the fallback of
// tensor/dispatch.h (the cpu kernels in place or on host copies, with a warning).

// (N, K, P, Q) for x (N, C, H, W) and w (K, C/groups, R, S); throws as conv2d_forward.
Shape conv2d_output_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dParams& p);
// x (N, C, H, W), w (K, C/groups, R, S), bias (K) or undefined -> (N, K, P, Q).
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p);
// The gradient of conv2d_forward for the input of shape x_shape (N, C, H, W), given
// grad_out (N, K, P, Q) and w.
Tensor conv2d_backward_input(const Shape& x_shape, const Tensor& grad_out, const Tensor& w,
                             const Conv2dParams& p);
// The gradient of conv2d_forward for the weight of shape w_shape (K, C/groups, R, S), given
// grad_out (N, K, P, Q) and x.
Tensor conv2d_backward_weight(const Shape& w_shape, const Tensor& grad_out, const Tensor& x,
                              const Conv2dParams& p);
// conv2d_forward's gradients in one call (PyTorch's convolution_backward): {grad_x of
// x_shape, grad_w of w_shape, grad_b (K)}, each computed when its flag in output_mask
// (input, weight, bias) is set and undefined otherwise. w is read for grad_x and x for
// grad_w; either may be undefined when the gradient that reads it is not asked for.
std::tuple<Tensor, Tensor, Tensor> conv2d_backward(const Tensor& grad_out, const Shape& x_shape,
                                                   const Tensor& x, const Shape& w_shape,
                                                   const Tensor& w, const Conv2dParams& p,
                                                   std::array<bool, 3> output_mask);
// 2-D pooling (raw_pool.cpp; ember::pool2d says the shapes): errors name `op`
// ("max_pool2d", ...) and the input's shape. Returns {values, indices or undefined}.
std::pair<Tensor, Tensor> pool2d_forward(const char* op, const Tensor& x, const Pool2dParams& p,
                                         int64_t output_h = 0, int64_t output_w = 0);
// The gradient of pool2d_forward for an input of shape x_shape, given grad_out of the
// values' shape and (max) the forward's indices.
Tensor pool2d_backward(const char* op, const Shape& x_shape, const Tensor& grad_out,
                       const Tensor& indices, const Pool2dParams& p);
// softmax(q k^T * scale + mask) v without keeping the scores: q (B, H, Tq, D),
// k (B, H, Tk, D), v (B, H, Tk, Dv), mask additive of q's dtype and broadcastable to
// (B, H, Tq, Tk), or undefined -> out (B, H, Tq, Dv) and lse (B, H, Tq), the log-sum-exp of
// each score row. A row with no finite score gives NaN outputs (as softmax does). With
// p.dropout_p > 0 (in [0, 1], else ValueError) the probabilities are dropped as
// AttentionParams says, and attention_backward with the same p drops the same ones.
std::tuple<Tensor, Tensor> attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& mask, const AttentionParams& p);
// Gradients (dq, dk, dv) of attention_forward given grad_out (B, H, Tq, Dv) and the forward's
// out and lse; the probabilities are recomputed block by block.
std::tuple<Tensor, Tensor, Tensor> attention_backward(const Tensor& grad_out, const Tensor& q,
                                                      const Tensor& k, const Tensor& v,
                                                      const Tensor& out, const Tensor& lse,
                                                      const Tensor& mask, const AttentionParams& p);

// ---- fused cross entropy (tensor/raw_loss.cpp) ---------------------------------------------
// logits (R, C), target (R) i64, weight (C) or undefined -> (loss (R), lse (R)); see
// CrossEntropyParams for the row formula. Runs on the logits' device (dispatched as
// tensor/dispatch.h says).
std::tuple<Tensor, Tensor> cross_entropy_forward(const Tensor& logits, const Tensor& target,
                                                 const Tensor& weight, const CrossEntropyParams& p);
Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& lse,
                              const Tensor& target, const Tensor& weight,
                              const CrossEntropyParams& p);

// ---- layer norm (tensor/raw_norm.cpp) and embedding (tensor/raw_embedding.cpp) ----------
// x (R, N) floating, weight and bias (N) or undefined -> (y (R, N), mean (R), rstd (R)).
std::tuple<Tensor, Tensor, Tensor> layer_norm_forward(const Tensor& x, const Tensor& weight,
                                                      const Tensor& bias, double eps);
// (dx (R, N), dweight (N) if need_weight, dbias (N) if need_bias) from grad_y (R, N).
std::tuple<Tensor, Tensor, Tensor> layer_norm_backward(const Tensor& grad_y, const Tensor& x,
                                                       const Tensor& mean, const Tensor& rstd,
                                                       const Tensor& weight, bool need_weight,
                                                       bool need_bias);
// RMS norm (tensor/raw_rms_norm.cpp): x (R, N) floating, weight (N) or undefined ->
// (y (R, N), rstd (R)); the backward gives (dx (R, N), dweight (N) if need_weight).
std::tuple<Tensor, Tensor> rms_norm_forward(const Tensor& x, const Tensor& weight, double eps);
std::tuple<Tensor, Tensor> rms_norm_backward(const Tensor& grad_y, const Tensor& x,
                                             const Tensor& rstd, const Tensor& weight,
                                             bool need_weight);
// weight (V, D) rows at indices (M elements, i64) -> (M, D); IndexError for an index
// outside [0, V).
Tensor embedding_forward(const Tensor& weight, const Tensor& indices);
// The gradient of embedding_forward for a (num_weights, D) table, from grad_out (M, D):
// rows added at their indices in increasing position (deterministic); padding_idx, in
// [0, num_weights), gets none.
Tensor embedding_backward(const Tensor& grad_out, const Tensor& indices, int64_t num_weights,
                          std::optional<int64_t> padding_idx);
// Bilinear resizing (tensor/raw_resample.cpp): x (N, C, H, W) floating -> (N, C, P, Q);
// the backward maps grad_out (N, C, P, Q) to grad_x (N, C, H, W) for the same params.
Tensor upsample_bilinear_forward(const Tensor& x, int64_t P, int64_t Q,
                                 const UpsampleBilinearParams& p);
Tensor upsample_bilinear_backward(const Tensor& grad_out, int64_t H, int64_t W,
                                  const UpsampleBilinearParams& p);

// ---- recurrent cells (tensor/raw_rnn.cpp; issue 15, rnn) -------------------------------
// Backend's LstmCellForwardArgs, GruCellForwardArgs say the math. igates, hgates (B, 4H),
// c_prev (B, H) -> (h, c (B, H), workspace (B, 4H)).
std::tuple<Tensor, Tensor, Tensor> lstm_cell_forward(const Tensor& igates, const Tensor& hgates,
                                                     const Tensor& c_prev);
// (grad_gates (B, 4H), grad_c_prev (B, H)); grad_h or grad_c may be undefined (zero).
std::tuple<Tensor, Tensor> lstm_cell_backward(const Tensor& grad_h, const Tensor& grad_c,
                                              const Tensor& c_prev, const Tensor& c,
                                              const Tensor& workspace);
// igates, hgates (B, 3H), h_prev (B, H) -> (h (B, H), workspace (B, 4H)).
std::tuple<Tensor, Tensor> gru_cell_forward(const Tensor& igates, const Tensor& hgates,
                                            const Tensor& h_prev);
// (grad_igates (B, 3H), grad_hgates (B, 3H), grad_h_prev (B, H)) from grad_h (B, H).
std::tuple<Tensor, Tensor, Tensor> gru_cell_backward(const Tensor& grad_h, const Tensor& h_prev,
                                                     const Tensor& workspace);

// ---- batch norm and group norm (tensor/raw_batch_norm.cpp, raw_group_norm.cpp) -----------
// x (N, C, S) floating; weight, bias (C) or undefined; running_mean, running_var (C) or
// undefined (required in eval), updated in place in training; num_batches_tracked (0-dim
// i64) or undefined: when defined, the running update uses 1 / its value instead of
// momentum. -> (y (N, C, S), mean (C), invstd (C)): the statistics that normalized y.
std::tuple<Tensor, Tensor, Tensor> batch_norm_forward(
    const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
    const Tensor& running_var, const Tensor& num_batches_tracked, const BatchNormParams& p);
// (dx (N, C, S) if need_input, dweight (C) if need_weight, dbias (C) if need_bias).
std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_y, const Tensor& x,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool training,
                                                       bool need_input, bool need_weight,
                                                       bool need_bias);
// x (N, C, S) floating, C % groups == 0 -> (y (N, C, S), mean (N, G), rstd (N, G)).
std::tuple<Tensor, Tensor, Tensor> group_norm_forward(const Tensor& x, const Tensor& weight,
                                                      const Tensor& bias, int64_t groups,
                                                      double eps);
std::tuple<Tensor, Tensor, Tensor> group_norm_backward(const Tensor& grad_y, const Tensor& x,
                                                       const Tensor& mean, const Tensor& rstd,
                                                       const Tensor& weight, int64_t groups,
                                                       bool need_input, bool need_weight,
                                                       bool need_bias);

// ---- fused optimizer steps (tensor/raw_optim.cpp) ------------------------------------------
// Validates (shapes, dtypes, devices, contiguity of state) and runs one fused update per
// parameter on its device; every tensor is updated in place.
void adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p);
void sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p);
// RMSprop, Adagrad, NAdam, RAdam (tensor/raw_optim_more.cpp), with the same checks.
void rmsprop_step(const std::vector<RmspropTensors>& tensors, const RmspropStepParams& p);
void adagrad_step(const std::vector<AdagradTensors>& tensors, const AdagradStepParams& p);
void nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p);
void radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p);
// Sum over every element of every tensor of |x|^norm_type (max |x| for norm_type = inf),
// in f64: one multi-tensor reduction per (device, dtype), the results combined on the
// host. Not differentiable (clip_grad_norm_ runs it on gradients). Empty list: 0.
double multi_tensor_norm(const std::vector<Tensor>& tensors, double norm_type);

// ---- mixed precision (issue 16, scaler; tensor/raw_amp.cpp) ----
// PyTorch's _amp_foreach_non_finite_check_and_unscale_: multiplies every tensor in place by
// inv_scale and sets found_inf to 1 when an element was inf or NaN. found_inf and
// inv_scale: one-element f32 tensors on the tensors' device; one launch per dtype.
void amp_unscale_(const std::vector<Tensor>& tensors, const Tensor& found_inf,
                  const Tensor& inv_scale);
// PyTorch's _amp_update_scale_ on scale (one-element f32), growth_tracker (one-element
// i64) and found_inf (one-element f32), all on one device (AmpScaleParams, backend.h).
void amp_update_scale_(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                       const AmpScaleParams& p);

// ---- checks shared by ops ---------------------------------------------------------------
void check_defined(const char* op, const Tensor& t);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);

}  // namespace ember::raw
