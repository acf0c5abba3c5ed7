// matmul (torch.matmul semantics) and row-wise softmax.
#include "tensor/backend.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

Tensor matmul(const Tensor& a, const Tensor& b) {
  const profiler::OpScope profile("matmul");
  check_defined("matmul", a);
  check_defined("matmul", b);
  check_same_device("matmul", a, b);
  if (a.dim() == 0 || b.dim() == 0)
    fail<ShapeError>("matmul", "both operands need at least 1 dim, got shapes ", str(a.sizes()),
                     " and ", str(b.sizes()));
  if (a.dtype() != b.dtype() || !is_floating(a.dtype()))
    fail<DTypeError>("matmul", "expected two floating-point operands of one dtype, got ", a.dtype(),
                     " ", str(a.sizes()), " and ", b.dtype(), " ", str(b.sizes()));
  // Promote 1-D operands to matrices and remember which dims to drop afterwards.
  Tensor A = a.dim() == 1 ? unsqueeze(a, 0) : a;  // (..., M, K)
  Tensor B = b.dim() == 1 ? unsqueeze(b, 1) : b;  // (..., K, N)
  int64_t M = A.size(-2), K = A.size(-1), K2 = B.size(-2), N = B.size(-1);
  if (K != K2)
    fail<ShapeError>("matmul", "shapes ", str(a.sizes()), " and ", str(b.sizes()),
                     " cannot be multiplied (", K, " != ", K2, ")");
  Shape batch_a(A.sizes().begin(), A.sizes().end() - 2);
  Shape batch_b(B.sizes().begin(), B.sizes().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes("matmul", batch_a, batch_b);
  } catch (const ShapeError&) {
    fail<ShapeError>("matmul", "batch dims of shapes ", str(a.sizes()), " and ", str(b.sizes()),
                     " cannot be broadcast (", str(batch_a), " vs ", str(batch_b), ")");
  }

  Shape out_shape = batch;
  if (a.dim() > 1) out_shape.push_back(M);
  if (b.dim() > 1) out_shape.push_back(N);
  Backend& be = backend(a.device());

  if (B.dim() == 2 && !batch.empty()) {
    // (..., M, K) @ (K, N): fold the batch into the rows, no copy of B per batch.
    Tensor A2 = reshape(A, {-1, K});  // (batch*M, K)
    Tensor out = empty({1, A2.size(0), N}, a.dtype(), a.device());
    if (out.numel() > 0) {
      if (K == 0) {
        be.fill(out, 0);
      } else {
        be.matmul(out, unsqueeze(A2, 0), unsqueeze(B, 0));
      }
    }
    return reshape(out, out_shape);
  }

  int64_t nb = numel(batch);
  Shape a_full = batch, b_full = batch;
  a_full.insert(a_full.end(), {M, K});
  b_full.insert(b_full.end(), {K, N});
  Tensor A3 = reshape(expand(A, a_full), {nb, M, K});  // (nb, M, K)
  Tensor B3 = reshape(expand(B, b_full), {nb, K, N});  // (nb, K, N)
  Tensor out = empty({nb, M, N}, a.dtype(), a.device());
  if (out.numel() > 0) {
    if (K == 0) {
      be.fill(out, 0);
    } else {
      be.matmul(out, A3, B3);
    }
  }
  return reshape(out, out_shape);
}

Tensor softmax(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  const profiler::OpScope profile(name);
  check_defined(name, x);
  if (!is_floating(x.dtype()))
    fail<DTypeError>(name, "needs a floating-point input, got ", x.dtype(), " of shape ",
                     str(x.sizes()));
  if (x.dim() == 0) {
    wrap_dim(name, dim, 0);
    Tensor out = empty({}, x.dtype(), x.device());
    backend(x.device()).fill(out, log ? 0.0 : 1.0);
    return out;
  }
  int64_t d = wrap_dim(name, dim, x.dim());
  int64_t last = x.dim() - 1;
  Tensor moved = contiguous(transpose(x, d, last));  // softmax dim last
  int64_t K = x.sizes()[d];
  int64_t R = K == 0 ? 0 : moved.numel() / K;
  Tensor out = empty(moved.sizes(), x.dtype(), x.device());
  if (out.numel() > 0)
    backend(x.device())
        .softmax(as_strided(out, {R, K}, {K, 1}, 0),
                 as_strided(moved, {R, K}, {K, 1}, moved.storage_offset()), log);
  return transpose(out, d, last);
}

}  // namespace ember::raw
