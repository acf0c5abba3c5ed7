// The launcher of random.cu: counter-based random fills, as tensor/philox.h.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

// out[i] = dist(philox(seed, offset, i)) for i < n.
void launch_random(DType dtype, RandomDist dist, void* out, int64_t n, uint64_t seed,
                   uint64_t offset, double a, double b);

}  // namespace ember::EMBER_VARIANT
