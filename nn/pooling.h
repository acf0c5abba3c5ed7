// Pooling layers (torch.nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d):
// no parameters, the options of nn::functional's forms.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "nn/functional.h"
#include "nn/module.h"

namespace ember::nn {

class MaxPool2d : public UnaryModule {
 public:
  explicit MaxPool2d(Pair2 k, F::MaxPool2dOptions o = {}) : kernel_size(k), options(o) {}
  static Ptr<MaxPool2d> make(Pair2 k, F::MaxPool2dOptions o = {}) {
    return std::make_shared<MaxPool2d>(k, o);
  }
  Tensor forward(const Tensor& x) override { return F::max_pool2d(x, kernel_size, options); }
  // return_indices=True: {values, i64 indices into each H W plane}.
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x) {
    return F::max_pool2d_with_indices(x, kernel_size, options);
  }
  std::string extra_repr() const override;

  Pair2 kernel_size;
  F::MaxPool2dOptions options;
};

class AvgPool2d : public UnaryModule {
 public:
  explicit AvgPool2d(Pair2 k, F::AvgPool2dOptions o = {}) : kernel_size(k), options(o) {}
  static Ptr<AvgPool2d> make(Pair2 k, F::AvgPool2dOptions o = {}) {
    return std::make_shared<AvgPool2d>(k, o);
  }
  Tensor forward(const Tensor& x) override { return F::avg_pool2d(x, kernel_size, options); }
  std::string extra_repr() const override;

  Pair2 kernel_size;
  F::AvgPool2dOptions options;
};

class AdaptiveAvgPool2d : public UnaryModule, public Make<AdaptiveAvgPool2d> {
 public:
  explicit AdaptiveAvgPool2d(Pair2 size) : output_size(size) {}
  Tensor forward(const Tensor& x) override { return F::adaptive_avg_pool2d(x, output_size); }
  std::string extra_repr() const override;

  Pair2 output_size;
};

class AdaptiveMaxPool2d : public UnaryModule, public Make<AdaptiveMaxPool2d> {
 public:
  explicit AdaptiveMaxPool2d(Pair2 size) : output_size(size) {}
  Tensor forward(const Tensor& x) override { return F::adaptive_max_pool2d(x, output_size); }
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x) {
    return F::adaptive_max_pool2d_with_indices(x, output_size);
  }
  std::string extra_repr() const override;

  Pair2 output_size;
};

}  // namespace ember::nn
