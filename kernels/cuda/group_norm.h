// Launchers of kernels/cuda/group_norm.cu: group normalization of (N, C, S).
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct GroupNormShape {
  int64_t n, c, s, groups;  // x (n, c, s) in `groups` groups of c / groups channels
  double eps;
};

// x (n, c, s), weight, bias (c) or null -> y (n, c, s), mean, rstd (n, groups).
void launch_group_norm_forward(DType dtype, const GroupNormShape& s, void* y, void* mean,
                               void* rstd, const void* x, const void* weight, const void* bias);

struct GroupNormBackwardPtrs {
  void *dx, *dweight, *dbias;  // (n, c, s), (c), (c), each may be null
  const void *dy, *x, *mean, *rstd, *weight;
};
void launch_group_norm_backward(DType dtype, const GroupNormShape& s,
                                const GroupNormBackwardPtrs& p);

}  // namespace ember::EMBER_VARIANT
