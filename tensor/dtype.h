// DType: the element types ember knows, their sizes, names and promotion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string_view>

namespace ember {

// f32 is the default. f64 serves gradcheck and references, i64 indices, b8 masks
// (stored as one byte per element, like C++ bool). bf16 and f16 join with the GPU.
enum class DType : uint8_t { f32, f64, i64, b8 };

inline constexpr int kNumDTypes = 4;

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::b8: return 1;
  }
  return 0;
}
constexpr bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }
constexpr bool is_integral(DType t, bool include_bool = true) {
  return t == DType::i64 || (include_bool && t == DType::b8);
}

std::string_view to_string(DType t);  // "f32", "f64", "i64", "bool"
std::ostream& operator<<(std::ostream& os, DType t);

// PyTorch's promotion lattice for the dtypes above: b8 < i64 < f32 < f64.
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
template <typename T>
inline constexpr DType dtype_of_v = dtype_of<T>::value;

}  // namespace ember

namespace ember {
[[noreturn]] void fail_unsupported_dtype(const char* op, DType t);

// Calls f with a value of the C++ type of `dt` (float, double, int64_t or bool), e.g.
//   dispatch_dtype(t.dtype(), "exp", [&](auto tag) { using T = decltype(tag); ... });
template <typename F>
decltype(auto) dispatch_dtype(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i64: return f(int64_t{});
    case DType::b8: return f(bool{});
  }
  fail_unsupported_dtype(op, dt);
}
}  // namespace ember

#define EMBER_DISPATCH(DT, OPNAME, ...) ::ember::dispatch_dtype(DT, OPNAME, __VA_ARGS__)
