// bf16 and f16 on the cpu (issue 16) compute as PyTorch's opmath does: operands widened to
// f32, the f32 kernel, the result rounded once into the 16-bit output. The widening is a
// separate pass for now; fused, vectorized conversions would save the temporaries.
#pragma once

#include "kernels/cpu/cpu_backend.h"
#include "tensor/raw.h"

namespace ember::cpu {

// t as a new f32 tensor of its shape.
inline Tensor widened(CpuBackend& be, const Tensor& t) {
  Tensor w = raw::empty(t.sizes(), DType::f32, t.device());
  be.copy(w, t);
  return w;
}

// Where a kernel for `out` writes its result: out itself, or an f32 stand-in when out is
// bf16/f16 (to be rounded into out with copy afterwards).
inline Tensor wide_output(const Tensor& out) {
  return is_half(out.dtype()) ? raw::empty(out.sizes(), DType::f32, out.device()) : out;
}

}  // namespace ember::cpu
