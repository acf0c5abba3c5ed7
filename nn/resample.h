// Resampling and channel dropout modules: Upsample (F::interpolate) and Dropout2d.
#pragma once

#include <string>

#include "nn/functional.h"
#include "nn/module.h"

namespace ember::nn {

// torch.nn.Upsample: F::interpolate with the options fixed at construction.
class Upsample : public UnaryModule, public Make<Upsample> {
 public:
  explicit Upsample(F::InterpolateOptions options);
  Tensor forward(const Tensor& x) override { return F::interpolate(x, options); }
  std::string extra_repr() const override;
  F::InterpolateOptions options;
};

// torch.nn.Dropout2d: in training, zeroes whole channels of (N, C, H, W) or (C, H, W)
// with probability p and scales the kept ones by 1/(1-p); the identity in eval.
class Dropout2d : public UnaryModule, public Make<Dropout2d> {
 public:
  explicit Dropout2d(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;
};

}  // namespace ember::nn
