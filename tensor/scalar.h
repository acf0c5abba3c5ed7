// Scalar: a number passed to an op (fill value, `t + 2`), keeping integers exact.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <type_traits>

#include "tensor/dtype.h"

namespace ember {

class Scalar {
 public:
  enum class Kind : uint8_t { boolean, integer, floating };

  constexpr Scalar() : kind_(Kind::integer), i_(0) {}
  template <typename T>
  requires std::is_arithmetic_v<T>
  constexpr Scalar(T v) {  // NOLINT: implicit, like at::Scalar
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = Kind::boolean;
      i_ = v ? 1 : 0;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = Kind::integer;
      i_ = static_cast<int64_t>(v);
    } else {
      kind_ = Kind::floating;
      d_ = static_cast<double>(v);
    }
  }

  constexpr Kind kind() const { return kind_; }
  constexpr bool is_floating() const { return kind_ == Kind::floating; }
  constexpr double to_double() const {
    return kind_ == Kind::floating ? d_ : static_cast<double>(i_);
  }
  constexpr int64_t to_int() const {
    return kind_ == Kind::floating ? static_cast<int64_t>(d_) : i_;
  }
  template <typename T>
  constexpr T to() const {
    if constexpr (std::is_same_v<T, bool>) return kind_ == Kind::floating ? d_ != 0.0 : i_ != 0;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(to_int());
    else return static_cast<T>(to_double());
  }
  // The dtype a tensor made from this scalar alone would have: bool, i64 or f32.
  constexpr DType natural_dtype() const {
    return kind_ == Kind::boolean ? DType::b8 : kind_ == Kind::integer ? DType::i64 : DType::f32;
  }

 private:
  Kind kind_;
  union {
    int64_t i_;
    double d_;
  };
};

std::ostream& operator<<(std::ostream& os, const Scalar& s);

}  // namespace ember
