// Convolution variants beside nn::Conv2d (nn/layers.h): ConvTranspose2d and Conv1d, with
// PyTorch's weight layouts, parameter names and initialisation.
#pragma once

#include <memory>
#include <string>

#include "nn/functional.h"
#include "nn/layers.h"
#include "nn/module.h"

namespace ember::nn {

struct ConvTranspose2dOptions {
  Pair2 stride = 1;
  Pair2 padding = 0;
  Pair2 output_padding = 0;
  int64_t groups = 1;
  bool bias = true;
  Pair2 dilation = 1;
};

// weight (in, out/groups, kh, kw), bias (out); kaiming_uniform(a = sqrt(5)) as torch, whose
// fan_in is weight.size(1) kh kw.
class ConvTranspose2d : public UnaryModule {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, Pair2 kernel_size,
                  ConvTranspose2dOptions options = {});
  static Ptr<ConvTranspose2d> make(int64_t in_channels, int64_t out_channels, Pair2 kernel_size,
                                   ConvTranspose2dOptions options = {}) {
    return std::make_shared<ConvTranspose2d>(in_channels, out_channels, kernel_size, options);
  }
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();
  Conv2dParams params() const;

  int64_t in_channels, out_channels;
  Pair2 kernel_size;
  ConvTranspose2dOptions options;
  Tensor weight, bias;
};

struct Conv1dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

// weight (out, in/groups, k), bias (out); x (N, C, L) or (C, L).
class Conv1d : public UnaryModule {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         Conv1dOptions options = {});
  static Ptr<Conv1d> make(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                          Conv1dOptions options = {}) {
    return std::make_shared<Conv1d>(in_channels, out_channels, kernel_size, options);
  }
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t in_channels, out_channels, kernel_size;
  Conv1dOptions options;
  Tensor weight, bias;
};

namespace detail {
// Conv2d's forward with its padding (sizes, "same", "valid") and padding_mode: zero padding
// that is the same on both sides goes to conv2d; anything else pads the input with F::pad
// first (as torch's _conv_forward) and convolves without padding.
Tensor conv2d_padded(const Tensor& x, const Tensor& weight, const Tensor& bias,
                     const Conv2dOptions& options, Pair2 kernel_size);
// ValueError for an unknown padding_mode or padding="same" with a stride.
void check_conv2d_padding(const Conv2dOptions& options);
}  // namespace detail

}  // namespace ember::nn
