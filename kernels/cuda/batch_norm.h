// Launchers of kernels/cuda/batch_norm.cu: batch normalization per channel of (N, C, S).
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct BatchNormShape {
  int64_t n, c, s;  // x (n, c, s), normalized per channel over its n*s values
  bool training;
  double momentum, eps;
};

struct BatchNormForwardPtrs {
  void *y, *mean, *invstd;        // (n, c, s), (c), (c)
  const void *x, *weight, *bias;  // weight, bias (c) or null
  // (c) or null; updated in place in training, read in eval. num_batches_tracked: one
  // i64 or null (then the running update uses momentum).
  void *running_mean, *running_var;
  const int64_t* num_batches_tracked;
};
void launch_batch_norm_forward(DType dtype, const BatchNormShape& s, const BatchNormForwardPtrs& p);

struct BatchNormBackwardPtrs {
  void *dx, *dweight, *dbias;  // (n, c, s), (c), (c), each may be null
  const void *dy, *x, *mean, *invstd, *weight;
};
void launch_batch_norm_backward(DType dtype, const BatchNormShape& s,
                                const BatchNormBackwardPtrs& p);

}  // namespace ember::EMBER_VARIANT
