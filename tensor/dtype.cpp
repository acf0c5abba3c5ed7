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
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, DType t) { return os << to_string(t); }

void fail_unsupported_dtype(const char* op, DType t) {
  fail<DTypeError>(op, "unsupported dtype ", t);
}

DType promote_types(DType a, DType b) {
  auto rank = [](DType t) {
    switch (t) {
      case DType::b8: return 0;
      case DType::i64: return 1;
      case DType::f32: return 2;
      case DType::f64: return 3;
    }
    return 0;
  };
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace ember
