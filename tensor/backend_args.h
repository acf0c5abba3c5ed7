// The vocabulary of the backend contract (tensor/backend.h): the elementwise, reduction and
// scan op enums, the primitives' list (Primitive, for Backend::supports), and the parameter
// and operand structs the primitives take, each with the math its kernels implement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/scalar.h"
#include "tensor/tensor.h"

namespace ember {

// The elementwise unary ops, one line each: X(op, name, float_only). `name` is what
// errors and the profiler print; a float_only op computes integer inputs in f32 (bool
// inputs are refused but by sign, pow and logical_not). The enum, to_string and the
// output dtype rule (raw::unary_result_dtype) all read this list (CONTRIBUTING.md).
// gelu is x Phi(x), the erf form; gelu_tanh 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)));
// pow_scalar is x^arg. The ops of issue 14, beside the cuda kernels' unary_fn:
// floor/ceil/trunc and round (half to even) keep integers; clamp is min(max(x, arg), arg2)
// with NaN propagating and an absent bound passed as -inf/+inf; leaky_relu takes the
// negative slope in arg, elu alpha; softplus is log(1 + exp(arg x)) / arg, and x where
// arg x > arg2 (torch's beta, threshold); hardswish x relu6(x + 3) / 6, hardsigmoid
// relu6(x + 3) / 6, mish x tanh(softplus(x)).
#define EMBER_UNARY_OPS(X)             \
  X(neg, "neg", false)                 \
  X(abs, "abs", false)                 \
  X(sign, "sign", false)               \
  X(exp, "exp", true)                  \
  X(log, "log", true)                  \
  X(sqrt, "sqrt", true)                \
  X(rsqrt, "rsqrt", true)              \
  X(tanh, "tanh", true)                \
  X(sigmoid, "sigmoid", true)          \
  X(relu, "relu", false)               \
  X(gelu, "gelu", true)                \
  X(gelu_tanh, "gelu_tanh", true)      \
  X(silu, "silu", true)                \
  X(sin, "sin", true)                  \
  X(cos, "cos", true)                  \
  X(erf, "erf", true)                  \
  X(pow_scalar, "pow", false)          \
  X(logical_not, "logical_not", false) \
  X(floor, "floor", false)             \
  X(ceil, "ceil", false)               \
  X(round, "round", false)             \
  X(trunc, "trunc", false)             \
  X(log1p, "log1p", true)              \
  X(expm1, "expm1", true)              \
  X(clamp, "clamp", false)             \
  X(leaky_relu, "leaky_relu", true)    \
  X(elu, "elu", true)                  \
  X(softplus, "softplus", true)        \
  X(mish, "mish", true)                \
  X(hardswish, "hardswish", true)      \
  X(hardsigmoid, "hardsigmoid", true)

enum class UnaryOp : uint8_t {
#define EMBER_UNARY_ENUM(op, name, float_only) op,
  EMBER_UNARY_OPS(EMBER_UNARY_ENUM)
#undef EMBER_UNARY_ENUM
};
// Whether the op computes integer inputs in f32 (the list's third column).
constexpr bool is_float_only(UnaryOp op) {
  switch (op) {
#define EMBER_UNARY_FLOAT_ONLY(op_, name, float_only) \
  case UnaryOp::op_: return float_only;
    EMBER_UNARY_OPS(EMBER_UNARY_FLOAT_ONLY)
#undef EMBER_UNARY_FLOAT_ONLY
  }
  return false;
}
enum class BinaryOp : uint8_t {
  add,
  sub,
  mul,
  div,
  pow,
  maximum,
  minimum,
  relu_backward,  // a where b > 0, else 0: ReLU's input gradient from grad (a) and output (b)
  eq,
  ne,
  lt,
  le,
  gt,
  ge,  // results are bool
  logical_and,
  logical_or  // inputs and results are bool
};
// var uses the `correction` argument (1 = Bessel's correction, as torch.var's default).
enum class ReduceOp : uint8_t { sum, prod, mean, max, min, var };
// Inclusive scans along one dim (cumsum, cumprod); see Backend::scan.
enum class ScanOp : uint8_t { sum, prod };
enum class RandomDist : uint8_t {
  uniform,  // U[a, b)
  normal,   // N(mean=a, std=b)
  randint,  // integers in [a, b)
};

// Geometry of a 2-D convolution (PyTorch's Conv2d arguments).
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
};

// conv2d's three gradients from one grad_out (PyTorch's convolution_backward with its
// output mask): grad_x (N, C, H, W), grad_w (K, C/groups, R, S) and grad_b (K), each
// undefined when not wanted; x is read for grad_w, w for grad_x. All contiguous, of one
// floating dtype.
struct Conv2dBackwardArgs {
  Tensor grad_x, grad_w, grad_b;  // outputs
  Tensor grad_out, x, w;
};

// 2-D pooling over each (H, W) plane (PyTorch's MaxPool2d/AvgPool2d/Adaptive*Pool2d).
// Fixed windows: output (p, q) covers rows p stride_h - pad_h + i dilation_h, i < kernel_h
// (and likewise columns), the out-of-input ones skipped. Adaptive windows (adaptive = true;
// kernel, stride, pad and dilation unused): rows floor(p H / P) to ceil((p + 1) H / P).
enum class PoolMode : uint8_t { max, avg };
struct Pool2dParams {
  PoolMode mode = PoolMode::max;
  bool adaptive = false;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;  // max only
  bool ceil_mode = false;                  // read by the op layer only (the output size)
  // avg: the divisor is divisor_override when > 0, else the window clipped to the padded
  // input (count_include_pad) or to the input.
  bool count_include_pad = true;
  int64_t divisor_override = 0;
};

// Fused attention: softmax(q k^T * scale + mask) v, the score matrix never stored.
struct AttentionParams {
  double scale = 1.0;
  bool causal = false;  // query i attends to keys j <= i (top-left aligned, as PyTorch)
  // Dropout on the probabilities: score (b, h, i, j) is kept, and scaled by 1 / (1 - p),
  // when philox::dropout_keep(seed, offset, ((b H + h) Tq + i) Tk + j, threshold of p)
  // (tensor/philox.h), so every device drops the same scores and the backward regenerates
  // them. lse stays the log-sum-exp of the scores before dropout.
  double dropout_p = 0.0;
  uint64_t seed = 0, offset = 0;
};

// One Adam/AdamW update (torch.optim.Adam/AdamW's formulas); bias corrections computed
// on the host from each parameter's step count.
struct AdamStepParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false;  // AdamW
  bool amsgrad = false;
  bool maximize = false;
};

// The tensors of one parameter for an Adam step (max_exp_avg_sq undefined unless amsgrad).
struct AdamTensors {
  const Tensor* param;
  const Tensor* grad;
  const Tensor* exp_avg;
  const Tensor* exp_avg_sq;
  const Tensor* max_exp_avg_sq;
  int64_t step;  // after incrementing: 1 on the first update
};

// One SGD update (torch.optim.SGD's formulas).
struct SgdStepParams {
  double lr = 1e-3, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;
};

struct SgdTensors {
  const Tensor* param;
  const Tensor* grad;
  const Tensor* momentum_buffer;  // undefined without momentum
  bool first_step;                // the buffer starts as the first (decayed) gradient
};

// ---- RMSprop, Adagrad, NAdam, RAdam (torch.optim's formulas; kernels/cpu/optim_more.cpp) ----
// The per-tensor scalars that depend on a step count are computed on the host in f64 by
// tensor/optim_coeffs.h, the same for every backend.

// RMSprop: sq = alpha sq + (1 - alpha) g^2; centered: ga += (1 - alpha)(g - ga) and the
// denominator sqrt(sq - ga^2) + eps, else sqrt(sq) + eps; momentum: buf = mu buf + g / den.
struct RmspropStepParams {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0.0, momentum = 0.0;
  bool centered = false;
  bool maximize = false;
};
struct RmspropTensors {
  const Tensor* param;
  const Tensor* grad;
  const Tensor* square_avg;
  const Tensor* momentum_buffer;  // null unless momentum > 0
  const Tensor* grad_avg;         // null unless centered
};

// Adagrad: sum += g^2; p -= lr / (1 + (step - 1) lr_decay) * g / (sqrt(sum) + eps).
struct AdagradStepParams {
  double lr = 1e-2, lr_decay = 0.0, weight_decay = 0.0, eps = 1e-10;
  bool maximize = false;
};
struct AdagradTensors {
  const Tensor* param;
  const Tensor* grad;
  const Tensor* sum;
  int64_t step;  // after incrementing: 1 on the first update
};

// NAdam: Adam's moments with Nesterov momentum whose coefficient mu_t = beta1 (1 - 0.5 *
// 0.96^(t momentum_decay)) warms up; the parameter keeps the product mu_1 ... mu_t.
struct NadamStepParams {
  double lr = 2e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0,
         momentum_decay = 4e-3;
  bool decoupled_weight_decay = false;
  bool maximize = false;
};
struct NadamTensors {
  const Tensor* param;
  const Tensor* grad;
  const Tensor* exp_avg;
  const Tensor* exp_avg_sq;
  int64_t step;       // after incrementing: 1 on the first update
  double mu_product;  // mu_1 ... mu_step, this step's mu included
};

// RAdam: Adam's moments, the adaptive term scaled by the variance rectification r_t
// while rho_t > 5, else a plain momentum step (the first steps).
struct RadamStepParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled_weight_decay = false;
  bool maximize = false;
};
struct RadamTensors {
  const Tensor* param;
  const Tensor* grad;
  const Tensor* exp_avg;
  const Tensor* exp_avg_sq;
  int64_t step;  // after incrementing: 1 on the first update
};

// Fused log-softmax + negative log-likelihood over rows of logits (label smoothing eps):
//   row_i = (1 - eps) w[t_i] (lse_i - z[i, t_i]) + eps / C * sum_c w_c (lse_i - z[i, c])
// with w = 1 when no class weights are given and row_i = 0 when t_i == ignore_index.
struct CrossEntropyParams {
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
};

// The primitives of the contract, for Backend::supports and the op layer's dispatch. One
// entry per family: supporting it means its forward and backward methods.
enum class Primitive : uint8_t {
  // required: every backend implements them
  copy,
  fill,
  unary,
  binary,
  where,
  reduce,
  matmul,
  softmax,
  random,
  index_select,
  gather,
  scatter_add,
  check_index_range,
  // optional: the op layer falls back (tensor/dispatch.h) where a backend lacks them
  adam_step,
  sgd_step,
  multi_norm,
  cross_entropy,
  conv2d,
  attention,
  layer_norm,
  embedding,
  upsample_bilinear,
  scan,
  pool2d,
  batch_norm,
  group_norm,
  // RMSprop, Adagrad, NAdam, RAdam (issue 18)
  rmsprop_step,
  adagrad_step,
  nadam_step,
  radam_step,
  rms_norm,  // issue 15: RMSNorm
  // recurrent cells (issue 15, rnn)
  lstm_cell,
  gru_cell,
  // sorting and sampling (issue 15)
  sort,
  multinomial,
  // mixed precision: GradScaler's unscale and scale update (issue 16, scaler)
  amp_unscale,
  amp_update_scale,
  gelu_backward,  // issue 15, perf: GELU's derivative in one pass
};
bool is_optional(Primitive op);

// GradScaler's scale update (issue 16, scaler), PyTorch's _amp_update_scale_: on an inf or
// NaN (found_inf != 0) scale *= backoff_factor and the tracker restarts at 0; else the
// tracker counts the finite step, and at growth_interval consecutive ones scale *=
// growth_factor (kept only when that product is finite) and the tracker restarts.
struct AmpScaleParams {
  double growth_factor = 2.0, backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

// Bilinear resizing (F::interpolate's "bilinear"): torch's source coordinate of output
// index o along a dim is scale * o with align_corners, else max(scale * (o + 0.5) - 0.5, 0);
// the scales are torch's ((in-1)/(out-1), or 1/scale_factor, or in/out), set by the op.
struct UpsampleBilinearParams {
  bool align_corners = false;
  double scale_h = 0.0, scale_w = 0.0;
};

// Named operands of the primitives that take more than four tensors (outputs first).

// Cross entropy: logits (R, C) contiguous floating, target (R) contiguous i64, weight (C)
// of the logits' dtype or undefined -> loss (R) and lse (R), the row log-sum-exp.
struct CrossEntropyForwardArgs {
  Tensor loss, lse;  // outputs (R), (R)
  Tensor logits, target, weight;
};
// grad_logits (R, C) = grad_loss[r] * d row_r / d logits[r], from the forward's lse (R).
struct CrossEntropyBackwardArgs {
  Tensor grad_logits;  // output (R, C)
  Tensor grad_loss, logits, lse, target, weight;
};

// Attention, all contiguous, floating of one dtype: q (B, H, Tq, D), k (B, H, Tk, D),
// v (B, H, Tk, Dv), mask additive (B or 1, H or 1, Tq, Tk) expanded to (B, H, Tq, Tk) or
// undefined -> out (B, H, Tq, Dv) and lse (B, H, Tq), the log-sum-exp of each score row.
struct AttentionForwardArgs {
  Tensor out, lse;  // outputs
  Tensor q, k, v, mask;
};
struct AttentionBackwardArgs {
  Tensor grad_q, grad_k, grad_v;  // outputs, shaped as q, k, v
  Tensor grad_out, q, k, v, out, lse, mask;
};

// Layer norm over the last dim: x (R, N) contiguous floating, weight and bias (N) of x's
// dtype or undefined -> y (R, N), mean (R), rstd (R) = 1 / sqrt(biased var + eps),
// accumulated in x's dtype (f32 in f32, f64 in f64).
struct LayerNormParams {
  double eps = 1e-5;
};
struct LayerNormForwardArgs {
  Tensor y, mean, rstd;  // outputs
  Tensor x, weight, bias;
};
// grad_x (R, N) and, where defined, grad_weight (N) and grad_bias (N) from grad_y (R, N).
struct LayerNormBackwardArgs {
  Tensor grad_x, grad_weight, grad_bias;  // outputs (weight and bias ones may be undefined)
  Tensor grad_y, x, mean, rstd, weight;
};

// RMS norm over the last dim (torch.nn.RMSNorm): x (R, N) contiguous floating, weight (N)
// of x's dtype or undefined -> y = x rstd weight (R, N) and rstd (R) = 1 / sqrt(mean(x^2) +
// eps), accumulated in at least x's dtype. The backward, with g = dy weight:
//   dx = rstd (g - x rstd^2 mean(g x)),  dweight = sum_rows dy x rstd (where defined).
struct RmsNormParams {
  double eps = 1e-6;
};
struct RmsNormForwardArgs {
  Tensor y, rstd;  // outputs (R, N), (R)
  Tensor x, weight;
};
struct RmsNormBackwardArgs {
  Tensor grad_x, grad_weight;  // outputs (R, N), (N) or undefined
  Tensor grad_y, x, rstd, weight;
};

// Batch norm per channel of x (N, C, S) contiguous floating (S = H*W, L or 1), over its
// N*S values; weight, bias (C) of x's dtype or undefined. Training (N*S >= 2): the batch's
// mean and invstd = 1 / sqrt(biased var + eps) -> mean, invstd (C), and, where
// running_mean and running_var (C, contiguous, x's dtype) are defined, updated in place:
//   r <- (1 - f) r + f stat, with the unbiased variance var * n / (n - 1), n = N*S,
// f = momentum, or 1 / num_batches_tracked (0-dim i64, read on the device, already
// incremented) when that is defined (cumulative average). Eval: the running statistics
// normalize, and mean, invstd (C) receive running_mean and 1 / sqrt(running_var + eps).
// Either way y = (x - mean) invstd weight + bias, accumulated in f64 for f32 on the cpu.
struct BatchNormParams {
  bool training = true;
  double momentum = 0.1;
  double eps = 1e-5;
};
struct BatchNormForwardArgs {
  Tensor y, mean, invstd;                                 // outputs (N, C, S), (C), (C)
  Tensor x, weight, bias;                                 // (N, C, S), (C), (C)
  Tensor running_mean, running_var, num_batches_tracked;  // (C), (C), () i64; in place
};
// From the forward's mean and invstd (C): grad_x (N, C, S) with the batch statistics'
// own gradient in training (dx = invstd w (g - mean(g) - xhat mean(g xhat)), means over
// N*S) or without it in eval (dx = invstd w g); grad_weight = sum g xhat and grad_bias =
// sum g (C). Each output may be undefined.
struct BatchNormBackwardArgs {
  Tensor grad_x, grad_weight, grad_bias;  // outputs (N, C, S), (C), (C)
  Tensor grad_y, x, mean, invstd, weight;
};

// ---- recurrent cells (issue 15, rnn) ----------------------------------------------------
// The LSTM cell after its two GEMMs, all contiguous floating of one dtype: igates = x W_ih^T
// + b_ih and hgates = h W_hh^T + b_hh (B, 4H) in torch's gate order i, f, g, o, c_prev
// (B, H) -> c = sigmoid(f) c_prev + sigmoid(i) tanh(g), h = sigmoid(o) tanh(c) (B, H), and
// workspace (B, 4H): the activated gates i, f, g, o the backward needs (with c_prev, c).
struct LstmCellForwardArgs {
  Tensor h, c, workspace;  // outputs (B, H), (B, H), (B, 4H)
  Tensor igates, hgates, c_prev;
};
// grad_gates (B, 4H): the gradient of the gates' pre-activations (the same for igates and
// hgates), grad_c_prev (B, H), from grad_h and grad_c (B, H), either undefined for zero.
struct LstmCellBackwardArgs {
  Tensor grad_gates, grad_c_prev;  // outputs (B, 4H), (B, H)
  Tensor grad_h, grad_c, c_prev, c, workspace;
};
// The GRU cell after its two GEMMs: igates, hgates (B, 3H) in torch's order r, z, n and
// h_prev (B, H) -> r = sigmoid(i_r + h_r), z = sigmoid(i_z + h_z),
// n = tanh(i_n + r h_n), h = (1 - z) n + z h_prev (B, H); workspace (B, 4H) = r, z, n, h_n.
struct GruCellForwardArgs {
  Tensor h, workspace;  // outputs (B, H), (B, 4H)
  Tensor igates, hgates, h_prev;
};
// grad_igates, grad_hgates (B, 3H) (they differ in the n block: r times it for hgates) and
// grad_h_prev (B, H) from grad_h (B, H).
struct GruCellBackwardArgs {
  Tensor grad_igates, grad_hgates, grad_h_prev;  // outputs
  Tensor grad_h, h_prev, workspace;
};

// Group norm of x (N, C, S) contiguous floating in `groups` groups of C / groups
// channels: per (n, g) mean and rstd = 1 / sqrt(biased var + eps) over its (C/G)*S
// values -> mean, rstd (N, G); y = (x - mean) rstd weight[c] + bias[c], weight and bias
// (C) or undefined.
struct GroupNormParams {
  int64_t groups = 1;
  double eps = 1e-5;
};
struct GroupNormForwardArgs {
  Tensor y, mean, rstd;  // outputs (N, C, S), (N, G), (N, G)
  Tensor x, weight, bias;
};
// grad_x (N, C, S) = rstd (gw - mean(gw) - xhat mean(gw xhat)) per group, gw = g weight[c];
// grad_weight = sum_{n,s} g xhat, grad_bias = sum_{n,s} g (C). Each output may be undefined.
struct GroupNormBackwardArgs {
  Tensor grad_x, grad_weight, grad_bias;  // outputs (N, C, S), (C), (C)
  Tensor grad_y, x, mean, rstd, weight;
};

const char* to_string(Primitive op);
const char* to_string(UnaryOp op);
const char* to_string(BinaryOp op);
const char* to_string(ReduceOp op);
const char* to_string(ScanOp op);
bool is_comparison(BinaryOp op);

}  // namespace ember
