// One multinomial draw, written once for the cpu backend and both builds of kernels/cuda
// (as kernels/pool_window.h), so every device picks the same category from the same
// Philox uniform: only f64 sums, one product and comparisons, in a fixed order.
#pragma once

#include <cstdint>

#include "tensor/philox.h"

namespace ember::sampling {

// The uniform of sample s of row r (of S per row) for generator state (seed, offset).
EMBER_HD double sample_uniform(uint64_t seed, uint64_t offset, int64_t r, int64_t S, int64_t s) {
  return philox::uniform_f64(philox::draw(seed, offset, static_cast<uint64_t>(r * S + s)));
}

// With replacement: the first c with cdf[c] > u cdf[C - 1], where cdf (C) holds the running
// sums of the weights. A zero weight never wins (its cdf equals the one before). If rounding
// puts the target at the total, the last category of positive weight.
EMBER_HD int64_t draw_from_cdf(const double* cdf, int64_t C, double u) {
  const double target = u * cdf[C - 1];
  int64_t lo = 0, hi = C;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (cdf[mid] > target) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  if (lo == C) {
    lo = C - 1;
    while (lo > 0 && cdf[lo] == cdf[lo - 1]) --lo;
  }
  return lo;
}

// Without replacement, one sequential draw: the first c whose running sum of the remaining
// weights w (C) exceeds u times their total; w[c] is then zeroed (drawn). Needs a positive w.
EMBER_HD int64_t draw_remaining(double* w, int64_t C, double u) {
  double total = 0.0;
  for (int64_t c = 0; c < C; ++c) total += w[c];
  const double target = u * total;
  double acc = 0.0;
  int64_t pick = -1;
  for (int64_t c = 0; c < C; ++c) {
    if (w[c] > 0.0) {
      acc += w[c];
      pick = c;
      if (acc > target) break;
    }
  }
  w[pick] = 0.0;
  return pick;
}

}  // namespace ember::sampling
