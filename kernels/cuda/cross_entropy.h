// Launchers of kernels/cuda/cross_entropy.cu: the fused log-softmax + NLL over rows.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct CrossEntropyShape {
  int64_t rows, classes;
  int64_t ignore_index;
  double label_smoothing;
};

// logits (rows, classes), target (rows) i64, weight (classes) or null -> loss (rows),
// lse (rows). Throws IndexError naming cross_entropy for a target outside [0, classes)
// that is not ignore_index.
void launch_cross_entropy_forward(DType dtype, const CrossEntropyShape& s, void* loss, void* lse,
                                  const void* logits, const int64_t* target, const void* weight);
// grad_logits (rows, classes) from grad_loss (rows) and the forward's lse (rows).
void launch_cross_entropy_backward(DType dtype, const CrossEntropyShape& s, void* grad_logits,
                                   const void* grad_loss, const void* logits, const void* lse,
                                   const int64_t* target, const void* weight);

}  // namespace ember::EMBER_VARIANT
