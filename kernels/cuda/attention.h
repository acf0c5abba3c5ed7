// The launchers of attention.cu: fused attention (tensor/backend.h's contract), q (B, H, Tq,
// D), k (B, H, Tk, D), v (B, H, Tk, Dv), out/dout (B, H, Tq, Dv), lse (B, H, Tq) contiguous;
// mask additive (B, H, Tq, Tk) through strides (ms0, ms1, ms2, unit along keys) or null.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct AttentionArgs {
  int64_t B, H, Tq, Tk;
  int D, Dv;
  int64_t ms0, ms1, ms2;
  double scale;
  bool causal;
  bool dropout;                      // dropout_p > 0
  uint64_t seed, offset, threshold;  // philox::dropout_keep's arguments
  double keep_scale;                 // 1 / (1 - p), 0 for p = 1
};
// bf16/f16 tensors (issue 16) have kernels for D = Dv in {32, 64, 128} on sm_80+ (the
// tensor-core path; sim: always) where its shared memory fits: this says whether `a` is one.
// The backend widens the others to f32 around the f32 kernels. Their lse is f32.
bool attention_half_fast_path(const AttentionArgs& a);
void launch_attention_forward(DType dtype, const AttentionArgs& a, void* out, void* lse,
                              const void* q, const void* k, const void* v, const void* mask);
void launch_attention_backward(DType dtype, const AttentionArgs& a, void* dq, void* dk, void* dv,
                               const void* dout, const void* q, const void* k, const void* v,
                               const void* out, const void* lse, const void* mask);

}  // namespace ember::EMBER_VARIANT
