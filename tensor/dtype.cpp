#include "tensor/dtype.h"

#include <ostream>

#include "tensor/error.h"

namespace ember {

std::string_view to_string(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::b8: return "bool";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i8: return "i8";
    case DType::u8: return "u8";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, DType t) { return os << to_string(t); }

void fail_unsupported_dtype(const char* op, DType t) {
  fail<DTypeError>(op, "unsupported dtype ", t);
}

namespace {
// Rank inside a category: integers by width (u8 and i8 share one), floats likewise.
int int_rank(DType t) {
  switch (t) {
    case DType::u8:
    case DType::i8: return 1;
    case DType::i32: return 2;
    case DType::i64: return 3;
    default: return 0;  // bool
  }
}
int float_rank(DType t) { return t == DType::f64 ? 3 : t == DType::f32 ? 2 : 1; }
}  // namespace

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  const bool fa = is_floating(a), fb = is_floating(b);
  if (fa != fb) return fa ? a : b;  // a float beats every integer and bool
  if (fa) {
    if (is_half(a) && is_half(b)) return DType::f32;  // bf16 + f16: neither holds the other
    return float_rank(a) >= float_rank(b) ? a : b;
  }
  if ((a == DType::u8 && b == DType::i8) || (a == DType::i8 && b == DType::u8)) return DType::i32;
  return int_rank(a) >= int_rank(b) ? a : b;
}

}  // namespace ember
