// The tensor-core version of fused attention (attention_wmma.cu), chosen by attention.cu's
// launchers: for f32 tensors when ember::backends::cuda::attention says bf16, and for bf16/f16
// tensors. Tensors of `dtype` (f32, bf16, f16) with D = Dv = head_dim_of(a) in {32, 64, 128},
// on sm_80+ (sim: always); lse f32, and the backward's delta (rowsum(dout o out), which
// attention.cu's kernel computes for both versions) f32.
#pragma once

#include "kernels/cuda/attention.h"

namespace ember::EMBER_VARIANT {

void launch_attention_wmma_forward(DType dtype, const AttentionArgs& a, void* out, float* lse,
                                   const void* q, const void* k, const void* v, const void* mask);
void launch_attention_wmma_backward(DType dtype, const AttentionArgs& a, void* dq, void* dk,
                                    void* dv, const void* dout, const void* q, const void* k,
                                    const void* v, const float* lse, const float* delta,
                                    const void* mask);

}  // namespace ember::EMBER_VARIANT
