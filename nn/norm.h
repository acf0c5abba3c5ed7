// Normalization layers over channels, with PyTorch's names, defaults and buffers:
// BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d (LayerNorm is in nn/layers.h).
#pragma once

#include <optional>
#include <string>

#include "nn/functional.h"
#include "nn/module.h"

namespace ember::nn {

// torch's BatchNorm arguments after num_features: BatchNorm2d::make(16, {.momentum =
// std::nullopt}) averages the running statistics cumulatively (1 / num_batches_tracked).
struct BatchNormOptions {
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
};

// The shared batch norm: parameters weight (ones), bias (zeros) when affine; buffers
// running_mean (zeros), running_var (ones), num_batches_tracked (i64 0-dim) when tracking.
// Training normalizes with the batch's statistics and updates the running ones on the
// device (no host read); eval uses the running ones, or the batch's without tracking.
class BatchNormBase : public UnaryModule {
 public:
  BatchNormBase(int64_t num_features, BatchNormOptions options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_running_stats();
  void reset_parameters();

  int64_t num_features;
  BatchNormOptions options;
  Tensor weight, bias;                                    // (C), undefined without affine
  Tensor running_mean, running_var, num_batches_tracked;  // (C), (C), () i64, or undefined

 protected:
  // Throws ShapeError naming the module when x's rank does not fit it.
  virtual void check_input_dim(const Tensor& x) const = 0;
};

// x (N, C) or (N, C, L).
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t features, BatchNormOptions opts = {})
      : BatchNormBase(features, opts) {}
  static Ptr<BatchNorm1d> make(int64_t num_features, BatchNormOptions options = {}) {
    return std::make_shared<BatchNorm1d>(num_features, options);
  }

 protected:
  void check_input_dim(const Tensor& x) const override;
};

// x (N, C, H, W).
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t features, BatchNormOptions opts = {})
      : BatchNormBase(features, opts) {}
  static Ptr<BatchNorm2d> make(int64_t num_features, BatchNormOptions options = {}) {
    return std::make_shared<BatchNorm2d>(num_features, options);
  }

 protected:
  void check_input_dim(const Tensor& x) const override;
};

// x (N, C, *) in num_groups groups of C / num_groups channels; weight (ones), bias (zeros)
// of (C) when affine. C % num_groups != 0 is a ValueError.
class GroupNorm : public UnaryModule {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  static Ptr<GroupNorm> make(int64_t num_groups, int64_t num_channels, double eps = 1e-5,
                             bool affine = true) {
    return std::make_shared<GroupNorm>(num_groups, num_channels, eps, affine);
  }
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t num_groups, num_channels;
  double eps;
  Tensor weight, bias;
};

// InstanceNorm2d's defaults differ from BatchNorm's: no affine, no running statistics.
struct InstanceNormOptions {
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;
  bool affine = false;
  bool track_running_stats = false;
};

// x (N, C, H, W) or unbatched (C, H, W): each (sample, channel) over its H*W values in
// training or without tracking; eval with tracking uses the running statistics. The
// buffers (with track_running_stats) are BatchNorm's; num_batches_tracked is kept at 0,
// as PyTorch does.
class InstanceNorm2d : public UnaryModule {
 public:
  explicit InstanceNorm2d(int64_t num_features, InstanceNormOptions options = {});
  static Ptr<InstanceNorm2d> make(int64_t num_features, InstanceNormOptions options = {}) {
    return std::make_shared<InstanceNorm2d>(num_features, options);
  }
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t num_features;
  InstanceNormOptions options;
  Tensor weight, bias;
  Tensor running_mean, running_var, num_batches_tracked;
};

// torch.nn.RMSNorm (issue 15): normalizes over the trailing normalized_shape dims by the
// root mean square; parameter weight (ones) with elementwise_affine, no bias. eps nullopt
// takes the machine epsilon of the input's dtype at each forward, as torch does.
class RMSNorm : public UnaryModule {
 public:
  explicit RMSNorm(Shape normalized_shape, std::optional<double> eps = std::nullopt,
                   bool elementwise_affine = true);
  static Ptr<RMSNorm> make(Shape normalized_shape, std::optional<double> eps = std::nullopt,
                           bool elementwise_affine = true) {
    return std::make_shared<RMSNorm>(std::move(normalized_shape), eps, elementwise_affine);
  }
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Shape normalized_shape;
  std::optional<double> eps;
  Tensor weight;  // normalized_shape, ones; undefined without elementwise_affine
};

}  // namespace ember::nn
