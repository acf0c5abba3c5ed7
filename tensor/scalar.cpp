#include "tensor/scalar.h"

#include <ostream>

namespace ember {

std::ostream& operator<<(std::ostream& os, const Scalar& s) {
  switch (s.kind()) {
    case Scalar::Kind::boolean: return os << (s.to<bool>() ? "true" : "false");
    case Scalar::Kind::integer: return os << s.to_int();
    case Scalar::Kind::floating: return os << s.to_double();
  }
  return os;
}

}  // namespace ember
