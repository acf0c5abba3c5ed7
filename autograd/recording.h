// Shared helpers for the differentiable op definitions (autograd/functions_*.cpp).
#pragma once

#include <memory>

#include "autograd/node.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::autograd {

// A saved output is filled in after record() has attached the output to its node.
using SavedOutput = std::shared_ptr<SavedTensor>;
inline SavedOutput saved_output() { return std::make_shared<SavedTensor>(); }
inline void fill(const SavedOutput& slot, const Tensor& out) { *slot = SavedTensor(out, true); }

// Broadcasts a gradient of a reduction's result back over the reduced dims of `shape`.
inline Tensor expand_reduced(const Tensor& g, const Shape& shape, const DimList& wrapped_dims,
                             bool keepdim) {
  Tensor r = g;
  if (!keepdim)
    for (int64_t d : wrapped_dims) r = r.unsqueeze(d);  // ascending order keeps positions right
  return r.expand(shape);
}

// Marks a recorded view output, so in-place writes to it are refused while it needs grad.
inline void mark_view(const Tensor& out) {
  if (out.grad_fn()) out.ensure_autograd_meta().is_view = true;
}

}  // namespace ember::autograd
