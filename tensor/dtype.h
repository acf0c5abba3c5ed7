// DType: the element types ember knows, their sizes, names and promotion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string_view>

#include "tensor/half.h"

namespace ember {

// f32 is the default. f64 serves gradcheck and references, i64 indices, b8 masks
// (stored as one byte per element, like C++ bool). bf16 and f16 are the mixed-precision
// types (kernels compute them in f32); i32, i8 and u8 are for data and interoperability.
// New values go at the end: the numbers are not persisted, but the order of the first
// four is what existing tables were written for (docs/dtypes.md).
enum class DType : uint8_t { f32, f64, i64, b8, bf16, f16, i32, i8, u8 };

inline constexpr int kNumDTypes = 9;

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::b8: return 1;
    case DType::bf16: return 2;
    case DType::f16: return 2;
    case DType::i32: return 4;
    case DType::i8: return 1;
    case DType::u8: return 1;
  }
  return 0;
}
constexpr bool is_half(DType t) { return t == DType::bf16 || t == DType::f16; }
constexpr bool is_floating(DType t) { return t == DType::f32 || t == DType::f64 || is_half(t); }
constexpr bool is_integral(DType t, bool include_bool = true) {
  return t == DType::i64 || t == DType::i32 || t == DType::i8 || t == DType::u8 ||
         (include_bool && t == DType::b8);
}

std::string_view to_string(DType t);  // "f32", "f64", "bf16", "f16", "i64", "i32", ..., "bool"
std::ostream& operator<<(std::ostream& os, DType t);

// PyTorch's promotion lattice: b8 < u8, i8 < i32 < i64 < bf16, f16 < f32 < f64, with
// bf16 + f16 -> f32 as in torch, and u8 + i8 -> i32 (torch gives i16, which ember lacks).
DType promote_types(DType a, DType b);

// C++ type <-> DType.
template <typename T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::i64;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::b8;
};
template <>
struct dtype_of<bf16> {
  static constexpr DType value = DType::bf16;
};
template <>
struct dtype_of<f16> {
  static constexpr DType value = DType::f16;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::i32;
};
template <>
struct dtype_of<int8_t> {
  static constexpr DType value = DType::i8;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::u8;
};
template <typename T>
inline constexpr DType dtype_of_v = dtype_of<T>::value;

}  // namespace ember

namespace ember {
[[noreturn]] void fail_unsupported_dtype(const char* op, DType t);

// Calls f with a value of the C++ type of `dt` (float, double, int64_t or bool), e.g.
//   dispatch_dtype(t.dtype(), "exp", [&](auto tag) { using T = decltype(tag); ... });
// Only the four core dtypes: a kernel written before the 16-bit and small integer types
// fails with a DTypeError naming the op for them, rather than being instantiated for types
// it was never written for. Kernels opt in with the dispatchers below.
template <typename F>
decltype(auto) dispatch_dtype(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i64: return f(int64_t{});
    case DType::b8: return f(bool{});
    default: break;
  }
  fail_unsupported_dtype(op, dt);
}

// The floating dtypes: float, double, ember::bf16, ember::f16.
template <typename F>
decltype(auto) dispatch_floating(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(bf16{});
    case DType::f16: return f(f16{});
    default: break;
  }
  fail_unsupported_dtype(op, dt);
}

// The core four and the halves: what elementwise kernels and reductions take.
template <typename F>
decltype(auto) dispatch_with_halves(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::bf16: return f(bf16{});
    case DType::f16: return f(f16{});
    default: return dispatch_dtype(dt, op, static_cast<F&&>(f));
  }
}

// Every dtype: copies, casts, fills, printing and item().
template <typename F>
decltype(auto) dispatch_all(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::bf16: return f(bf16{});
    case DType::f16: return f(f16{});
    case DType::i32: return f(int32_t{});
    case DType::i8: return f(int8_t{});
    case DType::u8: return f(uint8_t{});
    default: return dispatch_dtype(dt, op, static_cast<F&&>(f));
  }
}
}  // namespace ember

#define EMBER_DISPATCH(DT, OPNAME, ...) ::ember::dispatch_dtype(DT, OPNAME, __VA_ARGS__)
