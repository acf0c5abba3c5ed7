// nn::functional: the stateless forms of the layers and the losses, as
// torch.nn.functional. Everything here is differentiable.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tensor/ops.h"

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
// One-hot encoding of i64 indices (any shape) -> i64 (..., num_classes); num_classes -1
// takes max + 1. An index outside [0, num_classes) is an IndexError. Not differentiable.
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1);
// Zeroes each element with probability p when training, scaling the rest by 1/(1-p).
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);

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

}  // namespace ember::nn::functional

namespace ember::nn {
namespace F = functional;
}
