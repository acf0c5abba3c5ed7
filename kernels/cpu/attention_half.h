// bf16/f16 fused attention on the cpu: f32 operands around attention.cpp's kernels.
#pragma once

#include "kernels/cpu/cpu_backend.h"

namespace ember::cpu {

void attention_forward_half(CpuBackend& be, const AttentionForwardArgs& a,
                            const AttentionParams& p);
void attention_backward_half(CpuBackend& be, const AttentionBackwardArgs& a,
                             const AttentionParams& p);

}  // namespace ember::cpu
