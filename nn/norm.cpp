#include "nn/norm.h"

#include <sstream>

#include "autograd/grad_mode.h"

namespace ember::nn {

namespace {

std::string fmt_double(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
const char* py_bool(bool b) { return b ? "True" : "False"; }
std::string fmt_momentum(const std::optional<double>& m) {
  return m ? fmt_double(*m) : std::string("None");
}

// "16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True", as torch prints.
template <typename Options>
std::string norm_repr(int64_t num_features, const Options& o) {
  return std::to_string(num_features) + ", eps=" + fmt_double(o.eps) +
         ", momentum=" + fmt_momentum(o.momentum) + ", affine=" + py_bool(o.affine) +
         ", track_running_stats=" + py_bool(o.track_running_stats);
}

void check_features(const char* module, int64_t num_features) {
  if (num_features <= 0)
    fail<ValueError>(module, "num_features must be positive, got ", num_features);
}

}  // namespace

// ---- BatchNorm1d, BatchNorm2d ---------------------------------------------------------------

BatchNormBase::BatchNormBase(int64_t features, BatchNormOptions opts)
    : num_features(features), options(opts) {
  check_features("BatchNorm", num_features);
  if (options.affine) {
    weight = register_parameter("weight", ones({num_features}));
    bias = register_parameter("bias", zeros({num_features}));
  }
  if (options.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {.dtype = DType::i64}));
  }
}

void BatchNormBase::reset_running_stats() {
  if (!options.track_running_stats) return;
  NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (!options.affine) return;
  NoGradGuard no_grad;
  weight.fill_(1);
  bias.zero_();
}

Tensor BatchNormBase::forward(const Tensor& x) {
  check_input_dim(x);
  if (x.size(1) != num_features)
    fail<ShapeError>(name(), "expected ", num_features, " channels (dim 1), got input of shape ",
                     str(x.sizes()));
  const int64_t N = x.size(0), C = x.size(1),
                S = x.dim() == 4   ? x.size(2) * x.size(3)
                    : x.dim() == 3 ? x.size(2)
                                   : 1;
  // As torch: training counts the batch; with momentum unset the running statistics are
  // the cumulative average, weighted 1 / num_batches_tracked, a value the primitive reads
  // on the device (no host synchronization per step).
  Tensor counter;
  if (is_training() && options.track_running_stats) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    if (!options.momentum) counter = num_batches_tracked;
  }
  // Batch statistics in training, and in eval when no running statistics are kept.
  const bool batch_stats = is_training() || !running_mean.defined();
  if (batch_stats && N * S == 1)
    fail<ValueError>(name(),
                     "Expected more than 1 value per channel when training, got input size ",
                     str(x.sizes()));
  return ember::batch_norm_ncs(x.reshape({N, C, S}), weight, bias, running_mean, running_var,
                               counter, batch_stats, options.momentum.value_or(0.0), options.eps)
      .reshape(x.sizes());
}

std::string BatchNormBase::extra_repr() const { return norm_repr(num_features, options); }

void BatchNorm1d::check_input_dim(const Tensor& x) const {
  if (x.dim() != 2 && x.dim() != 3)
    fail<ShapeError>("BatchNorm1d", "expected 2D (N, C) or 3D (N, C, L) input, got shape ",
                     str(x.sizes()));
}

void BatchNorm2d::check_input_dim(const Tensor& x) const {
  if (x.dim() != 4)
    fail<ShapeError>("BatchNorm2d", "expected 4D (N, C, H, W) input, got shape ", str(x.sizes()));
}

// ---- GroupNorm -------------------------------------------------------------------------------

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double e, bool affine)
    : num_groups(groups), num_channels(channels), eps(e) {
  if (num_groups <= 0 || num_channels % num_groups != 0)
    fail<ValueError>("GroupNorm", "num_channels must be divisible by num_groups, got ",
                     num_channels, " channels and ", num_groups, " groups");
  if (affine) {
    weight = register_parameter("weight", ones({num_channels}));
    bias = register_parameter("bias", zeros({num_channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  if (x.dim() < 2 || x.size(1) != num_channels)
    fail<ShapeError>("GroupNorm", "expected an input of shape (N, ", num_channels, ", *), got ",
                     str(x.sizes()));
  return F::group_norm(x, num_groups, weight, bias, eps);
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(num_groups) + ", " + std::to_string(num_channels) +
         ", eps=" + fmt_double(eps) + ", affine=" + py_bool(weight.defined());
}

// ---- InstanceNorm2d --------------------------------------------------------------------------

InstanceNorm2d::InstanceNorm2d(int64_t features, InstanceNormOptions opts)
    : num_features(features), options(opts) {
  check_features("InstanceNorm2d", num_features);
  if (options.affine) {
    weight = register_parameter("weight", ones({num_features}));
    bias = register_parameter("bias", zeros({num_features}));
  }
  if (options.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {.dtype = DType::i64}));
  }
}

Tensor InstanceNorm2d::forward(const Tensor& x) {
  if (x.dim() != 3 && x.dim() != 4)
    fail<ShapeError>("InstanceNorm2d", "expected 3D (C, H, W) or 4D (N, C, H, W) input, got shape ",
                     str(x.sizes()));
  const bool unbatched = x.dim() == 3;
  Tensor xb = unbatched ? x.unsqueeze(0) : x;  // (N, C, H, W)
  if (xb.size(1) != num_features)
    fail<ShapeError>("InstanceNorm2d", "expected ", num_features, " channels, got input of shape ",
                     str(x.sizes()));
  const bool input_stats = is_training() || !options.track_running_stats;
  Tensor y = F::instance_norm(xb, running_mean, running_var, weight, bias, input_stats,
                              options.momentum.value_or(0.0), options.eps);
  return unbatched ? y.squeeze(0) : y;
}

std::string InstanceNorm2d::extra_repr() const { return norm_repr(num_features, options); }

// ---- RMSNorm (issue 15) ----------------------------------------------------------------------

RMSNorm::RMSNorm(Shape shape, std::optional<double> e, bool affine)
    : normalized_shape(std::move(shape)), eps(e) {
  if (affine) weight = register_parameter("weight", ones(normalized_shape));
}

Tensor RMSNorm::forward(const Tensor& x) { return F::rms_norm(x, normalized_shape, weight, eps); }

// torch's repr: "RMSNorm((8,), eps=None, elementwise_affine=True)".
std::string RMSNorm::extra_repr() const {
  std::string s = "(";  // Python's tuple: "(4,)", "(2, 3)"
  for (size_t i = 0; i < normalized_shape.size(); ++i)
    s += (i > 0 ? ", " : "") + std::to_string(normalized_shape[i]);
  if (normalized_shape.size() == 1) s += ",";
  return s + "), eps=" + (eps ? fmt_double(*eps) : std::string("None")) +
         ", elementwise_affine=" + py_bool(weight.defined());
}

}  // namespace ember::nn
