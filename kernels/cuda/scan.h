// Launchers of kernels/cuda/scan.cu: inclusive scans (cumsum, cumprod) along one dim.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct ScanShape {
  int64_t outer, len, inner;  // in and out (O, K, I) contiguous, scanned along K
  bool prod;                  // cumprod, else cumsum
  bool reverse;               // suffix scan: from k = K - 1 down to 0
};

// out (O, K, I) = the inclusive scan of in (O, K, I) along K; dtype f32, f64 or i64.
void launch_scan(DType dtype, const ScanShape& s, void* out, const void* in);

}  // namespace ember::EMBER_VARIANT
