// Plain-loop f64 references of batch norm, group norm and instance norm (x (N, C, *)),
// for cases_batch_norm.cpp and cases_group_norm.cpp.
#pragma once

#include "registry/reference.h"

namespace ember::ref {

// y, and the running statistics after one training step (copies of the given ones;
// undefined-shaped when none were given).
struct BatchNormResult {
  RefTensor y, running_mean, running_var;
};
// Training: the batch's biased statistics normalize; running r <- (1 - f) r + f stat with
// the unbiased variance. Eval: running_mean and running_var normalize.
BatchNormResult batch_norm(const RefTensor& x, const RefTensor* weight, const RefTensor* bias,
                           const RefTensor* running_mean, const RefTensor* running_var,
                           bool training, double factor, double eps);
struct NormGrads {
  RefTensor dx, dweight, dbias;
};
// Training: the batch statistics' gradient included; eval: running_var's invstd only.
NormGrads batch_norm_backward(const RefTensor& x, const RefTensor* weight,
                              const RefTensor& grad_out, bool training,
                              const RefTensor* running_mean, const RefTensor* running_var,
                              double eps);
RefTensor group_norm(const RefTensor& x, int64_t groups, const RefTensor* weight,
                     const RefTensor* bias, double eps);
NormGrads group_norm_backward(const RefTensor& x, int64_t groups, const RefTensor* weight,
                              const RefTensor& grad_out, double eps);
// Instance norm with running statistics, one training step: each (n, c) normalized over
// its spatial values; the running statistics move toward the batch means of the
// per-instance mean and unbiased variance.
BatchNormResult instance_norm(const RefTensor& x, const RefTensor* weight, const RefTensor* bias,
                              const RefTensor& running_mean, const RefTensor& running_var,
                              double momentum, double eps);

}  // namespace ember::ref
