// The windows of 2-D pooling, written once for the cpu backend and both builds of
// kernels/cuda (as kernels/scalar_semantics.h), so every device pools the same elements
// in the same order.
//
// Along one dim of input size H and output size P, output i covers the input rows
//   fixed:    start + j d for j < k, start = i s - pad, those inside [0, H)
//   adaptive: floor(i H / P) to ceil((i + 1) H / P) - 1
// `padded` is the window clipped to the padded input, [start, min(start + k, H + pad)):
// avg pooling's divisor with count_include_pad (PyTorch's rule; adaptive: the window).
#pragma once

#include <cstdint>

#include "kernels/scalar_semantics.h"

namespace ember::pool {

struct PoolDim {
  int64_t in, out;  // H, P
  int64_t kernel, stride, pad, dilation;
};

struct Span {
  int64_t lo, hi, step;  // input rows lo, lo + step, ... < hi
  int64_t padded;
  EMBER_SCALAR_FN int64_t count() const { return hi > lo ? (hi - lo + step - 1) / step : 0; }
};

EMBER_SCALAR_FN Span window(int64_t i, const PoolDim& d, bool adaptive) {
  if (adaptive) {
    const int64_t lo = i * d.in / d.out, hi = ((i + 1) * d.in + d.out - 1) / d.out;
    return {lo, hi, 1, hi - lo};
  }
  const int64_t start = i * d.stride - d.pad;
  const int64_t end = start + (d.kernel - 1) * d.dilation + 1;
  const int64_t padded_end = start + d.kernel < d.in + d.pad ? start + d.kernel : d.in + d.pad;
  int64_t lo = start;
  if (lo < 0) lo += (-lo + d.dilation - 1) / d.dilation * d.dilation;
  return {lo, end < d.in ? end : d.in, d.dilation, padded_end - start};
}

// The outputs whose windows may hold input row h (a superset: callers test window()).
EMBER_SCALAR_FN void outputs_covering(int64_t h, const PoolDim& d, bool adaptive, int64_t* first,
                                      int64_t* last) {
  int64_t a, b;
  if (adaptive) {
    a = h * d.out / d.in;
    b = ((h + 1) * d.out + d.in - 1) / d.in - 1;
  } else {
    const int64_t reach = h + d.pad - (d.kernel - 1) * d.dilation;  // i s >= reach
    a = reach <= 0 ? 0 : (reach + d.stride - 1) / d.stride;
    b = (h + d.pad) / d.stride;
  }
  *first = a;
  *last = b < d.out - 1 ? b : d.out - 1;
}

EMBER_SCALAR_FN bool contains(const Span& s, int64_t h) {
  return h >= s.lo && h < s.hi && (h - s.lo) % s.step == 0;
}

}  // namespace ember::pool
