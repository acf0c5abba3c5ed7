// finfo / iinfo: the limits of a dtype, as torch.finfo and torch.iinfo report them.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace ember {

struct FInfo {
  int bits;           // storage width
  double eps;         // 1.0's distance to the next larger value
  double max;         // largest finite value
  double min;         // -max
  double tiny;        // smallest positive normal (torch's `tiny` / `smallest_normal`)
  double resolution;  // 10^-digits, the decimal precision
};
// Throws DTypeError for a non-floating dtype.
FInfo finfo(DType t);

struct IInfo {
  int bits;
  int64_t min;
  int64_t max;
};
// Throws DTypeError for a floating dtype; bool is not an integer here either (as torch).
IInfo iinfo(DType t);

}  // namespace ember
