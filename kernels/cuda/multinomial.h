// Launchers of kernels/cuda/multinomial.cu: categorical draws from rows of weights.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct MultinomialShape {
  int64_t rows, cats, samples;  // probs (R, C), workspace (R, C) f64, out (R, S) i64
  bool replacement;
  uint64_t seed, offset;  // the Philox state of the call
};

// out = S categories per row of probs (f32 or f64), as Backend::multinomial says.
void launch_multinomial(DType dtype, const MultinomialShape& s, int64_t* out, const void* probs,
                        double* workspace);

}  // namespace ember::EMBER_VARIANT
