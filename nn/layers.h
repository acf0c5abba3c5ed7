// Layers: modules with PyTorch's parameter names, shapes, options and initialisation.
#pragma once

#include <optional>
#include <string>

#include "nn/functional.h"
#include "nn/module.h"

namespace ember::nn {

// y = x W^T + b. weight (out, in), bias (out); U(-1/sqrt(in), 1/sqrt(in)) init.
class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  static Ptr<Linear> make(int64_t in_features, int64_t out_features, bool bias = true) {
    return std::make_shared<Linear>(in_features, out_features, bias);
  }
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t in_features, out_features;
  Tensor weight, bias;
};

// A pair of sizes written as one number ({.stride = 2}) or two ({.stride = {2, 1}}).
struct Pair2 {
  int64_t h, w;
  Pair2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose
  Pair2(int64_t vh, int64_t vw) : h(vh), w(vw) {}
};

struct Conv2dOptions {
  Pair2 stride = 1;
  Pair2 padding = 0;
  Pair2 dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

// weight (out, in/groups, kh, kw), bias (out).
class Conv2d : public UnaryModule {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Pair2 kernel_size, Conv2dOptions options = {});
  static Ptr<Conv2d> make(int64_t in_channels, int64_t out_channels, Pair2 kernel_size,
                          Conv2dOptions options = {}) {
    return std::make_shared<Conv2d>(in_channels, out_channels, kernel_size, options);
  }
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();
  Conv2dParams params() const;

  int64_t in_channels, out_channels;
  Pair2 kernel_size;
  Conv2dOptions options;
  Tensor weight, bias;
};

// weight (num_embeddings, embedding_dim), N(0, 1) init; the padding row starts at zero
// and gets no gradient.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim,
            std::optional<int64_t> padding_idx = std::nullopt);
  static Ptr<Embedding> make(int64_t num_embeddings, int64_t embedding_dim,
                             std::optional<int64_t> padding_idx = std::nullopt) {
    return std::make_shared<Embedding>(num_embeddings, embedding_dim, padding_idx);
  }
  Tensor forward(const Tensor& indices);
  Tensor operator()(const Tensor& indices) { return forward(indices); }
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;
  Tensor weight;
};

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  static Ptr<LayerNorm> make(Shape normalized_shape, double eps = 1e-5,
                             bool elementwise_affine = true) {
    return std::make_shared<LayerNorm>(std::move(normalized_shape), eps, elementwise_affine);
  }
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Shape normalized_shape;
  double eps;
  Tensor weight, bias;  // ones, zeros; undefined without elementwise_affine
};

class Dropout : public UnaryModule, public Make<Dropout> {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override { return F::dropout(x, p, is_training()); }
  std::string extra_repr() const override;
  double p;
};

class ReLU : public UnaryModule, public Make<ReLU> {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class GELU : public UnaryModule, public Make<GELU> {
 public:
  explicit GELU(std::string approx = "none") : approximate(std::move(approx)) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approximate); }
  std::string extra_repr() const override { return "approximate='" + approximate + "'"; }
  std::string approximate;
};

class SiLU : public UnaryModule, public Make<SiLU> {
 public:
  Tensor forward(const Tensor& x) override { return silu(x); }
};

class Tanh : public UnaryModule, public Make<Tanh> {
 public:
  Tensor forward(const Tensor& x) override { return tanh(x); }
};

class Sigmoid : public UnaryModule, public Make<Sigmoid> {
 public:
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};

class Identity : public UnaryModule, public Make<Identity> {
 public:
  Tensor forward(const Tensor& x) override { return x; }
};

class Flatten : public UnaryModule, public Make<Flatten> {
 public:
  explicit Flatten(int64_t start = 1, int64_t end = -1) : start_dim(start), end_dim(end) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_dim, end_dim); }
  std::string extra_repr() const override;
  int64_t start_dim, end_dim;
};

}  // namespace ember::nn
