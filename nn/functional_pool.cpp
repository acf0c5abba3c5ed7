// nn::functional's pooling forms over ember::pool2d, and conv1d over conv2d.
#include "nn/functional.h"
#include "tensor/raw.h"

namespace ember::nn::functional {

namespace {

Pool2dParams fixed(PoolMode mode, Pair2 k, const std::optional<Pair2>& stride, Pair2 padding,
                   bool ceil_mode) {
  const Pair2 s = stride.value_or(k);
  Pool2dParams p;
  p.mode = mode;
  p.kernel_h = k.h, p.kernel_w = k.w;
  p.stride_h = s.h, p.stride_w = s.w;
  p.pad_h = padding.h, p.pad_w = padding.w;
  p.ceil_mode = ceil_mode;
  return p;
}

Pool2dParams adaptive(PoolMode mode) {
  Pool2dParams p;
  p.mode = mode;
  p.adaptive = true;
  return p;
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Pair2 kernel_size,
                                                  const MaxPool2dOptions& o) {
  Pool2dParams p = fixed(PoolMode::max, kernel_size, o.stride, o.padding, o.ceil_mode);
  p.dilation_h = o.dilation.h, p.dilation_w = o.dilation.w;
  return pool2d(x, p);
}

Tensor max_pool2d(const Tensor& x, Pair2 kernel_size, const MaxPool2dOptions& o) {
  return max_pool2d_with_indices(x, kernel_size, o).first;
}

Tensor avg_pool2d(const Tensor& x, Pair2 kernel_size, const AvgPool2dOptions& o) {
  Pool2dParams p = fixed(PoolMode::avg, kernel_size, o.stride, o.padding, o.ceil_mode);
  p.count_include_pad = o.count_include_pad;
  if (o.divisor_override) {
    if (*o.divisor_override <= 0)
      fail<ValueError>("avg_pool2d", "divisor_override must be positive, got ",
                       *o.divisor_override);
    p.divisor_override = *o.divisor_override;
  }
  return pool2d(x, p).first;
}

Tensor adaptive_avg_pool2d(const Tensor& x, Pair2 output_size) {
  return pool2d(x, adaptive(PoolMode::avg), output_size.h, output_size.w).first;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& x, Pair2 output_size) {
  return pool2d(x, adaptive(PoolMode::max), output_size.h, output_size.w);
}

Tensor adaptive_max_pool2d(const Tensor& x, Pair2 output_size) {
  return adaptive_max_pool2d_with_indices(x, output_size).first;
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding, int64_t dilation, int64_t groups) {
  constexpr const char* kOp = "conv1d";
  raw::check_defined(kOp, x);
  raw::check_defined(kOp, weight);
  if ((x.dim() != 2 && x.dim() != 3) || weight.dim() != 3)
    fail<ShapeError>(kOp, "expected a 2-D (C, L) or 3-D (N, C, L) input and a 3-D weight ",
                     "(out, in/groups, k), got input ", str(x.sizes()), " and weight ",
                     str(weight.sizes()));
  const Conv2dParams p{.stride_h = 1,
                       .stride_w = stride,
                       .pad_h = 0,
                       .pad_w = padding,
                       .dilation_h = 1,
                       .dilation_w = dilation,
                       .groups = groups};
  // (..., C, L) -> (..., C, 1, L): a convolution over a height of one.
  Tensor y = conv2d(x.unsqueeze(-2), weight.unsqueeze(2), bias, p);
  return y.squeeze(-2);
}

}  // namespace ember::nn::functional
