// Activation modules of issue 14 over nn::functional, with PyTorch's names, defaults and
// printed form (extra_repr). ReLU, GELU, SiLU, Tanh and Sigmoid live in nn/layers.h.
#pragma once

#include <string>

#include "nn/functional.h"
#include "nn/module.h"

namespace ember::nn {

class LeakyReLU : public UnaryModule, public Make<LeakyReLU> {
 public:
  explicit LeakyReLU(double slope = 0.01) : negative_slope(slope) {}
  Tensor forward(const Tensor& x) override { return F::leaky_relu(x, negative_slope); }
  std::string extra_repr() const override;  // negative_slope=0.01
  double negative_slope;
};

class ELU : public UnaryModule, public Make<ELU> {
 public:
  explicit ELU(double a = 1.0) : alpha(a) {}
  Tensor forward(const Tensor& x) override { return F::elu(x, alpha); }
  std::string extra_repr() const override;  // alpha=1.0
  double alpha;
};

class Softplus : public UnaryModule, public Make<Softplus> {
 public:
  explicit Softplus(double b = 1.0, double t = 20.0);
  Tensor forward(const Tensor& x) override { return F::softplus(x, beta, threshold); }
  std::string extra_repr() const override;  // beta=1.0, threshold=20.0
  double beta, threshold;
};

class Mish : public UnaryModule, public Make<Mish> {
 public:
  Tensor forward(const Tensor& x) override { return F::mish(x); }
};

class Hardswish : public UnaryModule, public Make<Hardswish> {
 public:
  Tensor forward(const Tensor& x) override { return F::hardswish(x); }
};

class Hardsigmoid : public UnaryModule, public Make<Hardsigmoid> {
 public:
  Tensor forward(const Tensor& x) override { return F::hardsigmoid(x); }
};

// weight (num_parameters) filled with init: one slope shared by all channels, or one per
// channel (dim 1 of the input).
class PReLU : public UnaryModule, public Make<PReLU> {
 public:
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25);
  Tensor forward(const Tensor& x) override { return F::prelu(x, weight); }
  std::string extra_repr() const override;  // num_parameters=1
  int64_t num_parameters;
  Tensor weight;  // (num_parameters)
};

class Softmax : public UnaryModule, public Make<Softmax> {
 public:
  explicit Softmax(int64_t d) : dim(d) {}
  Tensor forward(const Tensor& x) override { return F::softmax(x, dim); }
  std::string extra_repr() const override;  // dim=1
  int64_t dim;
};

class LogSoftmax : public UnaryModule, public Make<LogSoftmax> {
 public:
  explicit LogSoftmax(int64_t d) : dim(d) {}
  Tensor forward(const Tensor& x) override { return F::log_softmax(x, dim); }
  std::string extra_repr() const override;  // dim=1
  int64_t dim;
};

}  // namespace ember::nn
