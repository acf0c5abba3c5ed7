// The dtype of a fused optimizer step's state tensors (exp_avg, momentum_buffer, ...) for a
// parameter of a given dtype (issue 16).
//
// A bf16/f16 parameter keeps its state in f32 and is updated in f32 math, rounded once per
// step: a bf16 exp_avg_sq cannot hold the 1e-8-sized squares of small gradients next to
// large ones, and a bf16 momentum loses every gradient below 2^-8 of its size. PyTorch keeps
// the state in the parameter's dtype; ember differs on purpose (docs/dtypes.md). f32 and f64
// parameters keep their own dtype.
#pragma once

#include "tensor/dtype.h"

namespace ember {

inline DType optim_state_dtype(DType param) {
  return param == DType::bf16 || param == DType::f16 ? DType::f32 : param;
}

}  // namespace ember
