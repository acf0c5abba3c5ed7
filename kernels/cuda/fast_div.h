// Division by a divisor fixed at launch, without the GPU's slow integer division: a
// multiply-high, an add and a shift (Granlund and Montgomery's method for a divisor
// known ahead of time). Kernels that turn a linear index into (n, c, h, w)-style
// coordinates in their inner loops (conv2d.cu) build one per extent on the host.
#pragma once

#include <cstdint>

#include "kernels/cuda/target.h"

namespace ember::EMBER_VARIANT {

struct FastDiv {
  uint32_t d = 1, mul = 1, shift = 0;

  FastDiv() = default;
  // d >= 1. With s = ceil(log2 d) and mul = floor(2^32 (2^s - d) / d) + 1, the quotient
  // n / d is (mulhi(n, mul) + n) >> s for every n < 2^31 (the sum cannot overflow).
  explicit FastDiv(uint32_t divisor) : d(divisor) {
    while ((uint64_t{1} << shift) < d) ++shift;
    mul = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1);
  }

  // n / d for 0 <= n < 2^31.
  EMBER_HOST_DEVICE int div(int n) const {
    const auto u = static_cast<uint32_t>(n);
#if defined(__CUDA_ARCH__)
    const uint32_t hi = __umulhi(u, mul);
#else
    const auto hi = static_cast<uint32_t>((uint64_t{u} * mul) >> 32);
#endif
    return static_cast<int>((hi + u) >> shift);
  }
  // q = n / d and r = n - q d.
  EMBER_HOST_DEVICE int divmod(int n, int* r) const {
    const int q = div(n);
    *r = n - q * static_cast<int>(d);
    return q;
  }
};

}  // namespace ember::EMBER_VARIANT
