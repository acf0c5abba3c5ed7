// Backend: the whole contract a device must meet, and the registry of devices.
//
// The op layer (tensor/raw_*.cpp) validates arguments, computes output shapes and
// dtypes, allocates outputs on the inputs' device and calls one primitive below.
// A primitive may assume what its comment promises; it never sees a user mistake
// except out-of-range index *values*, which live in device memory and are checked
// by the kernel (IndexError naming the op: at once on the cpu; on sim and cuda at the
// next synchronization the user causes, see kernels/cuda/index_flag.h).
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

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType device_type() const = 0;
  // False for a backend that is built in but has no device now (cuda with no GPU).
  virtual bool available() const { return true; }
  // Whether this backend runs `op` for operands of `dtype` with its own kernel. Every
  // backend supports the required primitives; the default says no to the optional ones.
  virtual bool supports(Primitive op, DType dtype) const;

  // ---- memory ----------------------------------------------------------------
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) noexcept = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes) = 0;
  virtual void synchronize() {}

  // ---- several devices of one type (issue 17, multidev) ------------------------
  // The devices of this type (cuda: the GPUs visible; sim: the simulated ones), and the
  // calling thread's current one: the device whose memory, stream and library handles the
  // other methods use. backend(Device) makes the tensor's device current before a call.
  virtual int device_count() const { return 1; }
  virtual int current_device() const { return 0; }
  virtual void set_device(int /*index*/) {}
  // Copies nbytes from src on device src_index to dst on device dst_index (both of this
  // type); returns when the copy is done. The default stages through the host.
  virtual void copy_peer(void* dst, int dst_index, const void* src, int src_index, size_t nbytes);

  // ---- primitives ------------------------------------------------------------
  // All tensors passed to one call live on this backend's device. "Expanded" means
  // the tensor has the output's shape, with stride 0 along broadcast dims.

  // out[i] = cast(in[i]); in is expanded to out's shape and may have another dtype.
  virtual void copy(const Tensor& out, const Tensor& in) = 0;
  // out[i] = value (cast to out's dtype).
  virtual void fill(const Tensor& out, const Scalar& value) = 0;
  // out[i] = op(in[i], arg, arg2); in expanded, same dtype as out except logical_not (out
  // bool). Float-only ops (exp, ...) get floating inputs. clamp on i64 gets bounds that
  // are integral and within the i64 range, or infinite (raw::unary makes them so).
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in, double arg, double arg2) = 0;
  // out[i] = op(a[i], b[i]); a and b expanded with one dtype; out has it too, or bool
  // for comparisons and logical ops.
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // out[i] = cond[i] ? a[i] : b[i]; all expanded, cond bool, a/b of out's dtype.
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
  // Reduces each row of the contiguous (R, K) `in` into out (R) contiguous. For max/min,
  // `indices` is either undefined or an i64 (R) tensor receiving the first arg of the
  // extreme (NaN counts as the extreme, as in PyTorch). K may be 0 only for sum/prod.
  // For sum and mean, `in` may instead have strides (1, R), columns contiguous: the sum
  // over the leading dims of a contiguous input, passed without a copy (issue 19).
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
                      int64_t correction) = 0;
  // out (B, M, N) contiguous = a (B, M, K) @ b (B, K, N); a and b are strided (batch
  // stride 0 when broadcast), floating, of out's dtype.
  virtual void matmul(const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // Row-wise softmax (or log_softmax) of the contiguous (R, K) `in` into out (R, K).
  virtual void softmax(const Tensor& out, const Tensor& in, bool log) = 0;
  // Fills the contiguous `out` from Philox-4x32-10 with key `seed` and counter
  // (element index, offset): element i is a function of (seed, offset, i) only, so
  // every device produces the same numbers (tensor/philox.h defines them).
  virtual void random(const Tensor& out, RandomDist dist, uint64_t seed, uint64_t offset, double a,
                      double b) = 0;
  // out = in.index_select(dim, index): index is a contiguous i64 (N) tensor.
  virtual void index_select(const Tensor& out, const Tensor& in, int64_t dim,
                            const Tensor& index) = 0;
  // out[..., j, ...] = in[..., index[..., j, ...], ...] along dim; out and index share a shape.
  virtual void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) = 0;
  // out[..., index[..., j, ...], ...] += src[..., j, ...] along dim (out already holds self).
  virtual void scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                           const Tensor& src) = 0;

  // Raises IndexError naming `op` ("nll_loss") for a value of index (contiguous i64) outside
  // [0, bound) that is not `ignore`: at once on host devices; GPU devices record it on the
  // device and raise it at the next synchronization (so validating costs no stream sync).
  // The default copies index to the host (a synchronization).
  virtual void check_index_range(const char* op, const Tensor& index, int64_t bound,
                                 int64_t ignore);

  // ---- optional primitives ---------------------------------------------------------------
  // A backend implements those it says it supports (supports(op, dtype)); the op layer
  // routes the others through one fallback (tensor/dispatch.h): the cpu kernels in place
  // on host-memory devices, else on host copies, with a warning once per (op, device).
  // The default methods here are never reached through the op layer.

  // Fused optimizer steps over a group of parameters (Primitive::adam_step, sgd_step): one
  // pass over param, grad and state per tensor (one launch per group on a GPU). All tensors
  // contiguous, of one floating dtype per parameter, updated in place.
  virtual void adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p);
  virtual void sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p);
  // The same contract for RMSprop, Adagrad, NAdam and RAdam.
  virtual void rmsprop_step(const std::vector<RmspropTensors>& tensors, const RmspropStepParams& p);
  virtual void adagrad_step(const std::vector<AdagradTensors>& tensors, const AdagradStepParams& p);
  virtual void nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p);
  virtual void radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p);
  // The norm of a group of tensors (clip_grad_norm_) in one reduction: out, a 0-dim f64
  // tensor on this device, = sum over every element of |x|^norm_type, or max |x| when
  // norm_type is inf (NaN propagates), accumulated in f64. Tensors contiguous, floating,
  // of one dtype; norm_type > 0.
  virtual void multi_norm(const Tensor& out, const std::vector<const Tensor*>& tensors,
                          double norm_type);

  // ---- mixed precision (issue 16, scaler): GradScaler's two device-side steps ----
  // PyTorch's _amp_foreach_non_finite_check_and_unscale_: each element x of every tensor
  // becomes x * inv_scale, and found_inf becomes 1 when some x (before scaling) is inf or
  // NaN, else keeps its value. Tensors contiguous, floating, of one dtype; found_inf and
  // inv_scale 0-dim f32 on this device. No host synchronization.
  virtual void amp_unscale(const std::vector<const Tensor*>& tensors, const Tensor& found_inf,
                           const Tensor& inv_scale);
  // PyTorch's _amp_update_scale_ (AmpScaleParams): scale 0-dim f32, growth_tracker 0-dim
  // i64, found_inf 0-dim f32, all on this device, updated in place without a host sync.
  virtual void amp_update_scale(const Tensor& scale, const Tensor& growth_tracker,
                                const Tensor& found_inf, const AmpScaleParams& p);

  // Cross entropy (CrossEntropyForwardArgs says the shapes). Target values outside [0, C)
  // that are not ignore_index raise IndexError.
  virtual void cross_entropy_forward(const CrossEntropyForwardArgs& a, const CrossEntropyParams& p);
  virtual void cross_entropy_backward(const CrossEntropyBackwardArgs& a,
                                      const CrossEntropyParams& p);

  // Layer norm (LayerNormForwardArgs says the shapes).
  virtual void layer_norm_forward(const LayerNormForwardArgs& a, const LayerNormParams& p);
  virtual void layer_norm_backward(const LayerNormBackwardArgs& a, const LayerNormParams& p);

  // RMS norm (RmsNormForwardArgs says the shapes; issue 15).
  virtual void rms_norm_forward(const RmsNormForwardArgs& a, const RmsNormParams& p);
  virtual void rms_norm_backward(const RmsNormBackwardArgs& a, const RmsNormParams& p);

  // Batch norm and group norm (BatchNormForwardArgs, GroupNormForwardArgs say the shapes).
  virtual void batch_norm_forward(const BatchNormForwardArgs& a, const BatchNormParams& p);
  virtual void batch_norm_backward(const BatchNormBackwardArgs& a, const BatchNormParams& p);
  virtual void group_norm_forward(const GroupNormForwardArgs& a, const GroupNormParams& p);
  virtual void group_norm_backward(const GroupNormBackwardArgs& a, const GroupNormParams& p);

  // GELU's backward (issue 15, perf): grad_x = grad_y gelu'(x), the erf form, or the tanh
  // form when `tanh`; grad_x, grad_y and x contiguous, of one shape and floating dtype.
  virtual void gelu_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x,
                             bool tanh);

  // Recurrent cells, issue 15 (LstmCellForwardArgs, GruCellForwardArgs say the shapes).
  virtual void lstm_cell_forward(const LstmCellForwardArgs& a);
  virtual void lstm_cell_backward(const LstmCellBackwardArgs& a);
  virtual void gru_cell_forward(const GruCellForwardArgs& a);
  virtual void gru_cell_backward(const GruCellBackwardArgs& a);

  // Embedding: out (M, D) = weight (V, D) rows at indices (M) i64, all contiguous; an index
  // outside [0, V) raises IndexError. The backward writes every row of grad_weight (V, D):
  // the grad_out (M, D) rows of its positions summed in increasing position, so results
  // are reproducible bit for bit (no float atomics); row padding_idx (or none, -1) is zero.
  virtual void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices);
  virtual void embedding_backward(const Tensor& grad_weight, const Tensor& grad_out,
                                  const Tensor& indices, int64_t padding_idx);

  // Bilinear resizing: x (B, H, W) -> out (B, P, Q), contiguous, floating of one dtype;
  // each output is the lerp in H of the lerps in W of its four source neighbours, with
  // weights and indices computed in the dtype's accumulation type (f32 for f32). The
  // backward writes every element of grad_x (B, H, W): each input element sums the
  // grad_out (B, P, Q) terms it fed, in a fixed order, so no float atomics.
  virtual void upsample_bilinear_forward(const Tensor& out, const Tensor& x,
                                         const UpsampleBilinearParams& p);
  virtual void upsample_bilinear_backward(const Tensor& grad_x, const Tensor& grad_out,
                                          const UpsampleBilinearParams& p);

  // Inclusive scan along the middle dim of the contiguous (O, K, I) `in` into out (O, K, I)
  // of in's dtype (f32, f64 or i64): out[o, k, i] = in[o, 0, i] op ... op in[o, k, i], or
  // with `reverse` in[o, k, i] op ... op in[o, K - 1, i] (the suffix scan, a backward's
  // need). Each of the O * I lines is independent; K >= 1.
  virtual void scan(ScanOp op, const Tensor& out, const Tensor& in, bool reverse);

  // ---- sorting and sampling (issue 15) ----
  // Sorts each row of the contiguous (R, N) `in` (f32, f64 or i64): values (R, N) of in's
  // dtype and indices (R, N) i64 (the column each value came from). The order is stable
  // (equal values keep their column order) and NaN counts as larger than every number
  // (last ascending, first descending), as torch.sort(stable=True). N >= 1.
  virtual void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending);
  // Draws num_samples = out.size(1) categories per row of the contiguous (R, C) weights
  // `probs` (f32 or f64; finite, >= 0, a positive sum and, without replacement, at least
  // num_samples positive weights: the op checks) into out (R, S) i64. Sample s of row r
  // uses the uniform philox::uniform_f64(draw(seed, offset, r S + s)): with replacement
  // the first c whose running f64 sum of weights exceeds u * total; without replacement the
  // same on the weights not drawn yet (sequential draws). `workspace` (R, C) f64 is
  // scratch. Only sums, products and comparisons in f64, so every device draws the same.
  virtual void multinomial(const Tensor& out, const Tensor& probs, const Tensor& workspace,
                           bool replacement, uint64_t seed, uint64_t offset);

  // Convolution, all tensors contiguous and floating of one dtype:
  // x (N, C, H, W), w (K, C/groups, R, S), bias (K) or undefined -> out (N, K, P, Q).
  virtual void conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w,
                              const Tensor& bias, const Conv2dParams& p);
  virtual void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                                     const Conv2dParams& p);
  virtual void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                                      const Conv2dParams& p);

  // 2-D pooling (Pool2dParams says the windows), contiguous, floating of one dtype:
  // x (B, H, W) planes -> out (B, P, Q); for max, indices (B, P, Q) i64 receive the flat
  // h W + w of each window's first maximum in row-major window order (a NaN wins, the last
  // one seen, as PyTorch); undefined for avg. Every window holds an input element.
  virtual void pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x,
                              const Pool2dParams& p);
  // grad_x (B, H, W), every element written: max adds grad_out (B, P, Q) at indices;
  // avg spreads each grad_out element over its window divided by the forward's divisor.
  virtual void pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices,
                               const Pool2dParams& p);

  // Attention (AttentionForwardArgs says the shapes); lse is saved for the backward,
  // which recomputes the probabilities.
  virtual void attention_forward(const AttentionForwardArgs& a, const AttentionParams& p);
  virtual void attention_backward(const AttentionBackwardArgs& a, const AttentionParams& p);
};

// The backend of a device type; throws DeviceError if it is not built in or has no device.
Backend& backend(DeviceType type);
// The backend of d's type with d made its current device for this thread (issue 17), so the
// call that follows lands on d; throws DeviceError for an ordinal >= its device_count().
Backend& backend(Device d);
bool backend_available(DeviceType type);
// Installs b as the backend of its device type (kernels/ calls this at start-up).
void register_backend(Backend* b);

namespace detail {
// Defined in kernels/: registers every backend built into this library. Declared here
// so that tensor/ needs no kernels/ header; called once, on first use of the registry.
void register_builtin_backends();
}  // namespace detail

}  // namespace ember
