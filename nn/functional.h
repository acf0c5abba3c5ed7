// nn::functional: the stateless forms of the layers and the losses, as
// torch.nn.functional. Everything here is differentiable.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "tensor/ops.h"

namespace ember::nn {

// A pair of sizes written as one number ({.stride = 2}) or two ({.stride = {2, 1}}).
struct Pair2 {
  int64_t h, w;
  Pair2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose
  Pair2(int64_t vh, int64_t vw) : h(vh), w(vw) {}
};

}  // namespace ember::nn

namespace ember::nn::functional {

enum class Reduction { none, mean, sum };

// ---- layers --------------------------------------------------------------------------------
// x (..., in) @ weight (out, in)^T + bias (out)
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
using ember::conv2d;
// Rows of weight (num, dim) picked by the integer indices; padding_idx rows get no gradient.
Tensor embedding(const Tensor& indices, const Tensor& weight,
                 std::optional<int64_t> padding_idx = std::nullopt);
// Normalizes over the trailing dims given by normalized_shape.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// RMS norm over the trailing dims given by normalized_shape, as
// torch.nn.functional.rms_norm: x / sqrt(mean(x^2) + eps) * weight; eps nullopt takes the
// machine epsilon of x's dtype (torch.finfo(dtype).eps).
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                std::optional<double> eps = std::nullopt);
// One-hot encoding of i64 indices (any shape) -> i64 (..., num_classes); num_classes -1
// takes max + 1. An index outside [0, num_classes) is an IndexError. Not differentiable.
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1);
// Batch norm of x (N, C, *) per channel over (N, *), as torch.nn.functional.batch_norm:
// training uses the batch's statistics and updates running_mean, running_var (C) in place
// (r <- (1 - momentum) r + momentum stat, the variance unbiased); eval normalizes with
// them. Both running statistics may be undefined in training. weight, bias (C) or undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                  bool training = false, double momentum = 0.1, double eps = 1e-5);
// Group norm of x (N, C, *) in num_groups groups of C / num_groups channels.
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// Instance norm of x (N, C, *): each (sample, channel) over its spatial values
// (use_input_stats), the running statistics (C), when given, updated with their mean over
// the batch; without use_input_stats the running statistics normalize.
Tensor instance_norm(const Tensor& x, const Tensor& running_mean = Tensor(),
                     const Tensor& running_var = Tensor(), const Tensor& weight = Tensor(),
                     const Tensor& bias = Tensor(), bool use_input_stats = true,
                     double momentum = 0.1, double eps = 1e-5);
// Zeroes each element with probability p when training, scaling the rest by 1/(1-p).
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);

// ---- pooling and convolution variants (nn/functional_pool.cpp) ------------------------------
// x (N, C, H, W) or (C, H, W); stride defaults to the kernel size; padding at most half the
// kernel; ceil_mode keeps a last partial window that starts inside the input or left padding.
struct MaxPool2dOptions {
  std::optional<Pair2> stride = std::nullopt;
  Pair2 padding = 0;
  Pair2 dilation = 1;
  bool ceil_mode = false;
};
Tensor max_pool2d(const Tensor& x, Pair2 kernel_size, const MaxPool2dOptions& options = {});
// {values, indices}: i64 flat h W + w of each window's first maximum (return_indices=True).
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Pair2 kernel_size,
                                                  const MaxPool2dOptions& options = {});
struct AvgPool2dOptions {
  std::optional<Pair2> stride = std::nullopt;
  Pair2 padding = 0;
  bool ceil_mode = false;
  bool count_include_pad = true;
  std::optional<int64_t> divisor_override = std::nullopt;
};
Tensor avg_pool2d(const Tensor& x, Pair2 kernel_size, const AvgPool2dOptions& options = {});
// Windows floor(i H / oh) to ceil((i + 1) H / oh): output (..., oh, ow).
Tensor adaptive_avg_pool2d(const Tensor& x, Pair2 output_size);
Tensor adaptive_max_pool2d(const Tensor& x, Pair2 output_size);
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& x, Pair2 output_size);
// x (N, C, L) or (C, L), weight (K, C/groups, k), bias (K) -> (N, K, L_out), through conv2d.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1);
using ember::conv_transpose2d;
// ---- padding and resampling (nn/pad.cpp, nn/interpolate.cpp) ---------------------------
// Pads the last pads.size()/2 dims of x, last dim first: {left, right, top, bottom, front,
// back}. mode "constant" (any dims; negative pads crop) fills with value; "reflect",
// "replicate" and "circular" pad the last 1, 2 or 3 dims of a 2-D to 5-D input.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, std::string_view mode = "constant",
           double value = 0.0);
struct InterpolateOptions {
  std::vector<int64_t> size{};          // the output's spatial sizes, or empty
  std::vector<double> scale_factor{};   // one per spatial dim (or one for all), or empty
  std::string mode = "nearest";         // "nearest" or "bilinear"
  std::optional<bool> align_corners{};  // bilinear only; unset means false
};
// Resizes the spatial dims of x (N, C, L) (nearest) or (N, C, H, W) (nearest, bilinear)
// with torch.nn.functional.interpolate's index formulas.
Tensor interpolate(const Tensor& x, const InterpolateOptions& options);

using ember::elu;
using ember::gelu;
using ember::hardsigmoid;
using ember::hardswish;
using ember::leaky_relu;
using ember::log_softmax;
using ember::mish;
using ember::prelu;
using ember::relu;
using ember::scaled_dot_product_attention;
using ember::sigmoid;
using ember::silu;
using ember::softmax;
using ember::softplus;
using ember::tanh;

// ---- losses --------------------------------------------------------------------------------
struct CrossEntropyOptions {
  Tensor weight{};  // (C) per-class weight, or undefined
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
  double label_smoothing = 0.0;
};
// input: logits (N, C), (N, C, d1, ...) or (C); target: class indices (N), (N, d1, ...) or ()
// as i64, or class probabilities of the input's shape.
Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyOptions& options = {});

struct NllLossOptions {
  Tensor weight{};
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
};
// input: log-probabilities with the class dim at 1, as cross_entropy's.
Tensor nll_loss(const Tensor& input, const Tensor& target, const NllLossOptions& options = {});

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);

struct BceWithLogitsOptions {
  Tensor weight{};      // broadcasts to the input
  Tensor pos_weight{};  // (C), weights the positive term
  Reduction reduction = Reduction::mean;
};
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BceWithLogitsOptions& options = {});

// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta 0 is l1.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                      Reduction reduction = Reduction::mean, double beta = 1.0);
// 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): smooth_l1 scaled by delta.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                  double delta = 1.0);

struct BceOptions {
  Tensor weight{};  // broadcasts to the input
  Reduction reduction = Reduction::mean;
};
// input: probabilities in [0, 1]; -(t log x + (1 - t) log(1 - x)), each log clamped at -100
// as torch does, so x = 0 or 1 gives a finite loss.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target,
                            const BceOptions& options = {});

// kl_div alone has torch's "batchmean" (the sum over the batch size, the true KL
// divergence); the other losses take Reduction, which cannot name it.
enum class KlDivReduction { none, mean, sum, batchmean };
// input: log-probabilities; target: probabilities (log-probabilities with log_target).
// Pointwise target * (log target - input), 0 where target is 0.
Tensor kl_div(const Tensor& input, const Tensor& target,
              KlDivReduction reduction = KlDivReduction::mean, bool log_target = false);

// ---- normalization by norms (issue 15, nn/functional_linalg.cpp) ------------------------------
// x / max(||x||_p, eps) along dim, as torch.nn.functional.normalize.
Tensor normalize(const Tensor& x, double p = 2.0, int64_t dim = 1, double eps = 1e-12);
// sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along dim, each norm clamped on its own
// (current torch's formula); x1 and x2 broadcast together first.
Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim = 1, double eps = 1e-8);

}  // namespace ember::nn::functional

namespace ember::nn {
namespace F = functional;
}
