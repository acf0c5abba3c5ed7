// nn::functional's batch_norm, group_norm and instance_norm: shape checks with PyTorch's
// messages, then the (N, C, S) primitives of autograd/functions_norm.cpp.
#include "autograd/autocast_policy.h"
#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "tensor/raw.h"

namespace ember::nn::functional {

namespace {

// x (N, C, *) as (N, C, S), S the product of the trailing dims (1 for (N, C)).
Tensor as_ncs(const char* op, const Tensor& x) {
  raw::check_defined(op, x);
  if (x.dim() < 2)
    fail<ShapeError>(op, "expected an input of shape (N, C, *), got ", str(x.sizes()));
  int64_t S = 1;
  for (int64_t d = 2; d < x.dim(); ++d) S *= x.size(d);
  return x.reshape({x.size(0), x.size(1), S});
}

// (C) -> (N * C): the per-channel tensor repeated for each of N samples.
Tensor repeat_per_sample(const Tensor& t, int64_t N) {
  if (!t.defined()) return t;
  return t.unsqueeze(0).expand({N, t.size(0)}).contiguous().reshape({N * t.size(0)});
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  if (autocast_policy::active())  // autocast: f32 (the running statistics are left as they are:
                                  // updated in place)
    return autocast_policy::fp32(
        [&](const Tensor& x_, const Tensor& w, const Tensor& b) {
          return batch_norm(x_, running_mean, running_var, w, b, training, momentum, eps);
        },
        x, weight, bias);
  Tensor xs = as_ncs("batch_norm", x);  // (N, C, S)
  if (training && xs.size(0) * xs.size(2) == 1)
    fail<ValueError>("batch_norm", "Expected more than 1 value per channel when training, ",
                     "got input size ", str(x.sizes()));
  return ember::batch_norm_ncs(xs, weight, bias, running_mean, running_var, Tensor(), training,
                               momentum, eps)
      .reshape(x.sizes());
}

Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& x_, const Tensor& w, const Tensor& b) {
          return group_norm(x_, num_groups, w, b, eps);
        },
        x, weight, bias);
  Tensor xs = as_ncs("group_norm", x);  // (N, C, S)
  return ember::group_norm_ncs(xs, num_groups, weight, bias, eps).reshape(x.sizes());
}

Tensor instance_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                     const Tensor& weight, const Tensor& bias, bool use_input_stats,
                     double momentum, double eps) {
  if (autocast_policy::active())  // autocast: f32 (running statistics left as they are)
    return autocast_policy::fp32(
        [&](const Tensor& x_, const Tensor& w, const Tensor& b) {
          return instance_norm(x_, running_mean, running_var, w, b, use_input_stats, momentum, eps);
        },
        x, weight, bias);
  Tensor xs = as_ncs("instance_norm", x);  // (N, C, S)
  const int64_t N = xs.size(0), C = xs.size(1), S = xs.size(2);
  if (running_mean.defined() != running_var.defined())
    fail<ValueError>("instance_norm",
                     "running_mean and running_var must both be given or both omitted");
  if (!use_input_stats) {
    if (!running_mean.defined())
      fail<ValueError>("instance_norm", "use_input_stats=false needs running_mean and running_var");
    return ember::batch_norm_ncs(xs, weight, bias, running_mean, running_var, Tensor(), false,
                                 momentum, eps)
        .reshape(x.sizes());
  }
  if (S == 1)
    fail<ValueError>("instance_norm", "Expected more than 1 spatial element when training, ",
                     "got input size ", str(x.sizes()));
  for (const Tensor* t : {&weight, &bias, &running_mean, &running_var})
    if (t->defined() && (t->dim() != 1 || t->size(0) != C))
      fail<ShapeError>("instance_norm", "expected per-channel tensors of shape [", C, "], got ",
                       str(t->sizes()), " (input ", str(x.sizes()), ")");
  // Without running statistics: one group per channel.
  if (!running_mean.defined())
    return ember::group_norm_ncs(xs, C, weight, bias, eps).reshape(x.sizes());
  // With them (as PyTorch): batch norm of (1, N*C, S), each (sample, channel) a channel of
  // its own with a copy of the running statistics, which then take the batch's mean.
  Tensor rm = repeat_per_sample(running_mean, N), rv = repeat_per_sample(running_var, N);
  Tensor y =
      ember::batch_norm_ncs(xs.reshape({1, N * C, S}), repeat_per_sample(weight, N),
                            repeat_per_sample(bias, N), rm, rv, Tensor(), true, momentum, eps);
  {
    NoGradGuard no_grad;
    Tensor mean_out = running_mean, var_out = running_var;  // handles on the caller's buffers
    mean_out.copy_(rm.reshape({N, C}).mean({0}));
    var_out.copy_(rv.reshape({N, C}).mean({0}));
  }
  return y.reshape(x.sizes());
}

}  // namespace ember::nn::functional
