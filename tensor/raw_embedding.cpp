// Embedding lookup and its gradient: validate, make operands contiguous, dispatch.
#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

void check_indices(const char* op, const Tensor& indices, const Tensor& like) {
  check_defined(op, indices);
  check_same_device(op, like, indices);
  if (indices.dtype() != DType::i64)
    fail<DTypeError>(op, "indices must be i64, got ", indices.dtype(), " of shape ",
                     str(indices.sizes()));
}

}  // namespace

Tensor embedding_forward(const Tensor& weight, const Tensor& indices) {
  constexpr const char* op = "embedding";
  const profiler::OpScope profile(op);
  check_defined(op, weight);
  check_indices(op, indices, weight);
  if (weight.dim() != 2)
    fail<ShapeError>(op, "weight must be (num_embeddings, embedding_dim), got ",
                     str(weight.sizes()));
  const int64_t M = indices.numel(), V = weight.size(0), D = weight.size(1);
  const Dispatch run(Primitive::embedding, weight.device(), weight.dtype());
  Tensor out = empty({M, D}, weight.dtype(), run.device());  // (M, D)
  if (M == 0) return run.result(out);
  if (D == 0 || V == 0) {  // nothing to copy, but the indices must still be in range
    if (V == 0) fail<IndexError>(op, "index out of range for 0 embeddings");
    return run.result(out);
  }
  run.backend().embedding_forward(out, run.operand(contiguous(weight)),
                                  run.operand(contiguous(reshape(indices, {M}))));
  return run.result(out);
}

Tensor embedding_backward(const Tensor& grad_out, const Tensor& indices, int64_t num_weights,
                          std::optional<int64_t> padding_idx) {
  constexpr const char* op = "embedding_backward";
  const profiler::OpScope profile(op);
  check_defined(op, grad_out);
  check_indices(op, indices, grad_out);
  const int64_t M = indices.numel();
  if (grad_out.dim() != 2 || grad_out.size(0) != M || !is_floating(grad_out.dtype()))
    fail<ShapeError>(op, "expected a floating grad_output of shape [", M, ", D], got ",
                     grad_out.dtype(), " ", str(grad_out.sizes()));
  if (padding_idx && (*padding_idx < 0 || *padding_idx >= num_weights))
    fail<IndexError>(op, "padding_idx ", *padding_idx, " is out of range for ", num_weights,
                     " embeddings");
  const int64_t D = grad_out.size(1);
  const Dispatch run(Primitive::embedding, grad_out.device(), grad_out.dtype());
  Tensor gw = empty({num_weights, D}, grad_out.dtype(), run.device());  // (V, D)
  if (gw.numel() == 0) return run.result(gw);
  if (M == 0) {
    fill_(gw, 0);
    return run.result(gw);
  }
  run.backend().embedding_backward(gw, run.operand(contiguous(grad_out)),
                                   run.operand(contiguous(reshape(indices, {M}))),
                                   padding_idx.value_or(-1));
  return run.result(gw);
}

}  // namespace ember::raw
