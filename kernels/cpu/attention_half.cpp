// bf16/f16 fused attention of the cpu backend (issue 16): q, k, v (and the additive mask,
// grad_out, out) widened to f32, the f32 FlashAttention-style kernels of attention.cpp, the
// outputs rounded once into their 16-bit tensors. lse is f32 for every floating q of 16 bits
// (tensor/raw_nn.cpp), so it is passed through as is. The widening is a separate pass
// (2 B H T D bytes read, 4 written per operand, small next to the 4 B H Tq Tk D flops); a
// tile-wise conversion inside the kernel would drop the temporaries.
#include "kernels/cpu/attention_half.h"

#include "kernels/cpu/widen.h"

namespace ember::cpu {

namespace {

Tensor widened_opt(CpuBackend& be, const Tensor& t) { return t.defined() ? widened(be, t) : t; }

}  // namespace

void attention_forward_half(CpuBackend& be, const AttentionForwardArgs& a,
                            const AttentionParams& p) {
  const Tensor out = wide_output(a.out);
  be.attention_forward({.out = out,
                        .lse = a.lse,
                        .q = widened(be, a.q),
                        .k = widened(be, a.k),
                        .v = widened(be, a.v),
                        .mask = widened_opt(be, a.mask)},
                       p);
  be.copy(a.out, out);
}

void attention_backward_half(CpuBackend& be, const AttentionBackwardArgs& a,
                             const AttentionParams& p) {
  const Tensor gq = wide_output(a.grad_q), gk = wide_output(a.grad_k), gv = wide_output(a.grad_v);
  be.attention_backward({.grad_q = gq,
                         .grad_k = gk,
                         .grad_v = gv,
                         .grad_out = widened(be, a.grad_out),
                         .q = widened(be, a.q),
                         .k = widened(be, a.k),
                         .v = widened(be, a.v),
                         .out = widened(be, a.out),
                         .lse = a.lse,
                         .mask = widened_opt(be, a.mask)},
                        p);
  be.copy(a.grad_q, gq);
  be.copy(a.grad_k, gk);
  be.copy(a.grad_v, gv);
}

}  // namespace ember::cpu
