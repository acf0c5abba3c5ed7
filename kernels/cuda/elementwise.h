// The launchers of elementwise.cu: copies and casts, fill, unary and binary ops and
// where over strided operands (kernels/cuda/geometry.h). `contiguous` means every operand
// has unit stride (g.ndim == 1).
#pragma once

#include "kernels/cuda/geometry.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"
#include "tensor/scalar.h"

namespace ember::EMBER_VARIANT {

void launch_copy(DType out_dtype, DType in_dtype, const Geometry<2>& g, bool contiguous, void* out,
                 const void* in);
void launch_fill(DType dtype, const Geometry<1>& g, bool contiguous, void* out,
                 const Scalar& value);
void launch_unary(UnaryOp op, DType in_dtype, const Geometry<2>& g, bool contiguous, void* out,
                  const void* in, double arg, double arg2);
// a and b have `dtype`; out has it too, or bool for comparisons and logical ops.
void launch_binary(BinaryOp op, DType dtype, const Geometry<3>& g, bool contiguous, void* out,
                   const void* a, const void* b);
void launch_where(DType dtype, const Geometry<4>& g, bool contiguous, void* out, const void* cond,
                  const void* a, const void* b);

}  // namespace ember::EMBER_VARIANT
