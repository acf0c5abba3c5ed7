#include "tensor/finfo.h"

#include <cmath>
#include <limits>

#include "tensor/error.h"

namespace ember {

FInfo finfo(DType t) {
  switch (t) {
    case DType::f32: {
      using L = std::numeric_limits<float>;
      return {32, L::epsilon(), L::max(), -L::max(), L::min(), 1e-6};
    }
    case DType::f64: {
      using L = std::numeric_limits<double>;
      return {64, L::epsilon(), L::max(), -L::max(), L::min(), 1e-15};
    }
    // bf16: f32's exponent range with 8 significant bits; max = (2 - 2^-7) * 2^127.
    case DType::bf16:
      return {16,
              std::ldexp(1.0, -7),
              std::ldexp(255.0, 120),
              -std::ldexp(255.0, 120),
              std::ldexp(1.0, -126),
              0.01};
    // f16: 11 significant bits, exponents -14..15; max = 65504.
    case DType::f16:
      return {16, std::ldexp(1.0, -10), 65504.0, -65504.0, std::ldexp(1.0, -14), 1e-3};
    default: break;
  }
  fail<DTypeError>("finfo", "needs a floating dtype, got ", t);
}

IInfo iinfo(DType t) {
  switch (t) {
    case DType::i64:
      return {64, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
    case DType::i32:
      return {32, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    case DType::i8: return {8, -128, 127};
    case DType::u8: return {8, 0, 255};
    default: break;
  }
  fail<DTypeError>("iinfo", "needs an integer dtype, got ", t);
}

}  // namespace ember
