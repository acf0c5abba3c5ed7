// Differentiable matmul and softmax.
#include "autograd/autocast_policy.h"
#include "autograd/recording.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

// matmul, with 1-D operands promoted to matrices (a: (K) -> (1, K), b: (K) -> (K, 1)):
//   dA = G @ B^T, dB = A^T @ G, each summed over broadcast batch dims, then reshaped back.
Tensor matmul(const Tensor& a, const Tensor& b) {
  if (autocast_policy::active())  // autocast: lower precision
    return autocast_policy::lower_precision(
        [](const Tensor& x, const Tensor& y) { return matmul(x, y); }, a, b);
  Tensor y = raw::matmul(a, b);
  if (needs_grad({&a, &b})) {
    SavedTensor sa(a, false), sb(b, false);
    record("MatmulBackward", {a, b}, y, [=](const TensorList& g) {
      Tensor a_ = sa.unpack(), b_ = sb.unpack();
      Tensor A = a_.dim() == 1 ? a_.unsqueeze(0) : a_;   // (..., M, K)
      Tensor B = b_.dim() == 1 ? b_.unsqueeze(-1) : b_;  // (..., K, N)
      Tensor G = g[0];                                   // (..., M, N) after re-inserting 1-D dims
      if (a_.dim() == 1) G = G.unsqueeze(b_.dim() == 1 ? 0 : -2);
      if (b_.dim() == 1) G = G.unsqueeze(-1);
      // Each gradient is produced in its operand's layout: for a column-major operand (a
      // transposed view, as linear's weight.t()) the transposed product is computed and
      // viewed back, so the weight's own gradient comes out contiguous and is not copied.
      auto column_major = [](const Tensor& t) {
        return t.dim() == 2 && t.stride(0) == 1 && t.stride(1) != 1;
      };
      Tensor dA = column_major(A) ? matmul(B, G.transpose(-1, -2)).transpose(-1, -2)
                                  : matmul(G, B.transpose(-1, -2));
      // A 2-D B broadcast over A's batch dims (linear on (batch, T, in)): one GEMM over
      // the flattened rows gives the batch sum directly, instead of a batched product
      // whose batch dim a sum then reduces through a strided copy.
      Tensor A_rows = A, G_rows = G;
      if (B.dim() == 2 && A.dim() > 2 && G.dim() == A.dim() && A.size(-1) > 0 && G.size(-1) > 0) {
        A_rows = A.reshape({A.numel() / A.size(-1), A.size(-1)});
        G_rows = G.reshape({G.numel() / G.size(-1), G.size(-1)});
      }
      Tensor dB = column_major(B) ? matmul(G_rows.transpose(-1, -2), A_rows).transpose(-1, -2)
                                  : matmul(A_rows.transpose(-1, -2), G_rows);
      // Sum over batch dims the operand was broadcast along, then drop promoted dims.
      auto back = [](const Tensor& d, const Tensor& promoted, const Tensor& orig) {
        Tensor r = d;
        int64_t lead = r.dim() - promoted.dim();
        if (lead > 0) {
          DimList dims;
          for (int64_t i = 0; i < lead; ++i) dims.push_back(i);
          r = sum(r, dims);
        }
        DimList ones;
        for (int64_t i = 0; i < promoted.dim(); ++i)
          if (promoted.sizes()[i] == 1 && r.sizes()[i] != 1) ones.push_back(i);
        if (!ones.empty()) r = sum(r, ones, true);
        return r.reshape(orig.sizes());
      };
      return TensorList{back(dA, A, a_), back(dB, B, b_)};
    });
  }
  return y;
}

// softmax: dx = y (g - sum(g y, dim))
Tensor softmax(const Tensor& x, int64_t dim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([dim](const Tensor& t) { return softmax(t, dim); }, x);
  Tensor y = raw::softmax(x, dim, false);
  if (needs_grad({&x})) {
    auto sy = autograd::saved_output();
    int64_t d = x.dim() == 0 ? 0 : wrap_dim("softmax", dim, x.dim());
    bool scalar = x.dim() == 0;
    record("SoftmaxBackward", {x}, y, [=](const TensorList& g) {
      Tensor y_ = sy->unpack();
      if (scalar) return TensorList{g[0] * 0.0};
      return TensorList{y_ * (g[0] - sum(g[0] * y_, {d}, true))};
    });
    autograd::fill(sy, y);
  }
  return y;
}

// log_softmax: dx = g - exp(y) sum(g, dim)
Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([dim](const Tensor& t) { return log_softmax(t, dim); }, x);
  Tensor y = raw::softmax(x, dim, true);
  if (needs_grad({&x})) {
    auto sy = autograd::saved_output();
    int64_t d = x.dim() == 0 ? 0 : wrap_dim("log_softmax", dim, x.dim());
    bool scalar = x.dim() == 0;
    record("LogSoftmaxBackward", {x}, y, [=](const TensorList& g) {
      if (scalar) return TensorList{g[0] * 0.0};
      return TensorList{g[0] - exp(sy->unpack()) * sum(g[0], {d}, true)};
    });
    autograd::fill(sy, y);
  }
  return y;
}

}  // namespace ember
