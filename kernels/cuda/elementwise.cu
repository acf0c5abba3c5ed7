// Elementwise kernels: copy/cast, fill, unary, binary and where, with broadcasting.
//
// Math:   out[i] = f(in_0[i], ..., in_{N-1}[i]) for every element i of out's shape; the
//         inputs are expanded to that shape (stride 0 along broadcast dims).
// Shapes: any, up to kMaxDims (8) dims after merging dims that are contiguous for every
//         operand (host code splits anything deeper into several launches).
// Split:  a 1-D grid-stride loop, 256 threads per block, grid_for() blocks. Contiguous
//         operands go through map_contiguous: 4 elements per thread per step, one vector
//         load/store per operand when aligned. Other layouts compute each operand's
//         offset from the linear index (one 64-bit div/mod per dim but the outermost).
// Cost:   FLOPs ~ (1..20) per element by op (transcendentals count as ~10-20);
//         bytes = numel * (sum of input element sizes + output element size), inputs
//         read once (broadcast operands are re-read from cache, not counted).
// Pre:    out does not overlap an input in another layout (the op layer copies first).
//         The op is a runtime switch inside the kernel, not a template argument: it is
//         uniform across the grid, costs a predictable branch per element on a
//         memory-bound loop, and keeps nvcc's compile time to one kernel per dtype.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/elementwise.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;
constexpr int kVec = 4;

// ---- the scalar functions ------------------------------------------------------------------

EMBER_DEVICE int64_t wrap_neg(int64_t x) {
  return static_cast<int64_t>(0ULL - static_cast<uint64_t>(x));
}

// log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)).
template <typename T>
EMBER_DEVICE T softplus_fn(T z) {
  return (z > T(0) ? z : T(0)) + d_log1p(d_exp(-d_abs(z)));
}

// relu6(x + 3) / 6 without the division's rounding on the clamped ends; NaN propagates.
template <typename T>
EMBER_DEVICE T relu6_shift(T x) {
  T r = x + T(3);
  r = r < T(0) ? T(0) : r;
  return r > T(6) ? T(6) : r;
}

// i64 clamp: bounds are integral and in range, or infinite for an absent one (raw::unary).
EMBER_DEVICE int64_t clamp_int(int64_t x, double lo, double hi) {
  if (lo > -1e19 && x < static_cast<int64_t>(lo)) x = static_cast<int64_t>(lo);
  if (hi < 1e19 && x > static_cast<int64_t>(hi)) x = static_cast<int64_t>(hi);
  return x;
}

template <typename T>
EMBER_DEVICE T unary_fn(UnaryOp op, T x, double arg, double arg2) {
  if constexpr (std::is_floating_point_v<T>) {
    const T one = 1;
    switch (op) {
      case UnaryOp::neg: return -x;
      case UnaryOp::abs: return d_abs(x);
      case UnaryOp::sign: return x > 0 ? one : (x < 0 ? -one : x);
      case UnaryOp::exp: return d_exp(x);
      case UnaryOp::log: return d_log(x);
      case UnaryOp::sqrt: return d_sqrt(x);
      case UnaryOp::rsqrt: return one / d_sqrt(x);
      case UnaryOp::tanh: return d_tanh(x);
      case UnaryOp::sigmoid: return one / (one + d_exp(-x));
      case UnaryOp::relu: return x < T(0) ? T(0) : x;
      case UnaryOp::gelu: return T(0.5) * x * (one + d_erf(x * T(0.70710678118654752440)));
      case UnaryOp::gelu_tanh:
        return T(0.5) * x *
               (one + d_tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)));
      case UnaryOp::silu: return x / (one + d_exp(-x));
      case UnaryOp::sin: return d_sin(x);
      case UnaryOp::cos: return d_cos(x);
      case UnaryOp::erf: return d_erf(x);
      case UnaryOp::pow_scalar: return arg == 2.0 ? x * x : d_pow(x, static_cast<T>(arg));
      case UnaryOp::logical_not: break;
      case UnaryOp::floor: return d_floor(x);
      case UnaryOp::ceil: return d_ceil(x);
      case UnaryOp::round: return d_rint(x);
      case UnaryOp::trunc: return d_trunc(x);
      case UnaryOp::log1p: return d_log1p(x);
      case UnaryOp::expm1: return d_expm1(x);
      case UnaryOp::clamp: return nan_min(nan_max(x, static_cast<T>(arg)), static_cast<T>(arg2));
      case UnaryOp::leaky_relu: return x > T(0) ? x : x * static_cast<T>(arg);
      case UnaryOp::elu: return x > T(0) ? x : static_cast<T>(arg) * d_expm1(x);
      case UnaryOp::softplus: {
        const T beta = static_cast<T>(arg), z = x * beta;
        return z > static_cast<T>(arg2) ? x : softplus_fn(z) / beta;
      }
      case UnaryOp::mish: return x * d_tanh(softplus_fn(x));
      case UnaryOp::hardswish: return x * relu6_shift(x) / T(6);
      case UnaryOp::hardsigmoid: return relu6_shift(x) / T(6);
    }
    return x;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    switch (op) {
      case UnaryOp::neg: return wrap_neg(x);
      case UnaryOp::abs: return x < 0 ? wrap_neg(x) : x;
      case UnaryOp::sign: return static_cast<T>((x > 0) - (x < 0));
      case UnaryOp::relu: return x < 0 ? T(0) : x;
      case UnaryOp::pow_scalar: return int_pow(x, static_cast<T>(arg));
      case UnaryOp::clamp: return clamp_int(x, arg, arg2);
      default: return x;  // floor, ceil, round, trunc: integers are their own rounding
    }
  } else {  // bool
    return op == UnaryOp::logical_not ? !x : x;
  }
}

template <typename T>
EMBER_DEVICE T arith_fn(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::add: return static_cast<T>(x + y);
    case BinaryOp::sub: return static_cast<T>(x - y);
    case BinaryOp::mul: return static_cast<T>(x * y);
    case BinaryOp::div:
      if constexpr (std::is_floating_point_v<T>) return x / y;
      break;
    case BinaryOp::pow:
      if constexpr (std::is_floating_point_v<T>) {
        return d_pow(x, y);
      } else if constexpr (std::is_same_v<T, int64_t>) {
        return int_pow(x, y);
      }
      break;
    case BinaryOp::maximum: return nan_max(x, y);
    case BinaryOp::minimum: return nan_min(x, y);
    case BinaryOp::relu_backward: return y > T(0) ? x : T(0);
    default: break;
  }
  return x;
}

EMBER_HOST_DEVICE bool is_predicate(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge || op == BinaryOp::logical_and ||
         op == BinaryOp::logical_or;
}

template <typename T>
EMBER_DEVICE bool predicate_fn(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::eq: return x == y;
    case BinaryOp::ne: return x != y;
    case BinaryOp::lt: return x < y;
    case BinaryOp::le: return x <= y;
    case BinaryOp::gt: return x > y;
    case BinaryOp::ge: return x >= y;
    case BinaryOp::logical_and: return static_cast<bool>(x) && static_cast<bool>(y);
    case BinaryOp::logical_or: return static_cast<bool>(x) || static_cast<bool>(y);
    default: return false;
  }
}

// ---- kernels: one contiguous and one strided version of each -----------------------------------

template <typename O, typename I>
__global__ void copy_contiguous(O* out, const I* in, int64_t n) {
  map_contiguous<kVec>(
      n, [](I x) { return convert<O>(x); }, out, in);
}
template <typename O, typename I>
__global__ void copy_strided(Geometry<2> g, O* out, const I* in) {
  for_each_strided(g, [&](const int64_t(&off)[2]) { out[off[0]] = convert<O>(in[off[1]]); });
}

template <typename T>
__global__ void fill_contiguous(T* out, int64_t n, T value) {
  map_contiguous<kVec>(
      n, [value]() { return value; }, out);
}
template <typename T>
__global__ void fill_strided(Geometry<1> g, T* out, T value) {
  for_each_strided(g, [&](const int64_t(&off)[1]) { out[off[0]] = value; });
}

template <typename T>
__global__ void unary_contiguous(UnaryOp op, T* out, const T* in, int64_t n, double arg,
                                 double arg2) {
  map_contiguous<kVec>(
      n, [=](T x) { return T(unary_fn(op, static_cast<opmath_t<T>>(x), arg, arg2)); }, out, in);
}
template <typename T>
__global__ void unary_strided(UnaryOp op, Geometry<2> g, T* out, const T* in, double arg,
                              double arg2) {
  for_each_strided(g, [&](const int64_t(&off)[2]) {
    out[off[0]] = T(unary_fn(op, static_cast<opmath_t<T>>(in[off[1]]), arg, arg2));
  });
}

// O is T, or bool for comparisons and logical ops (T may be bool either way). bf16 and f16
// compute in f32 and round once (PyTorch's opmath).
template <typename T, typename O>
EMBER_DEVICE O binary_fn(BinaryOp op, T x, T y) {
  using M = opmath_t<T>;
  if constexpr (std::is_same_v<O, bool>) {
    if (is_predicate(op)) return predicate_fn(op, static_cast<M>(x), static_cast<M>(y));
  }
  return static_cast<O>(arith_fn(op, static_cast<M>(x), static_cast<M>(y)));
}
template <typename T, typename O>
__global__ void binary_contiguous(BinaryOp op, O* out, const T* a, const T* b, int64_t n) {
  map_contiguous<kVec>(
      n, [=](T x, T y) { return binary_fn<T, O>(op, x, y); }, out, a, b);
}
template <typename T, typename O>
__global__ void binary_strided(BinaryOp op, Geometry<3> g, O* out, const T* a, const T* b) {
  for_each_strided(
      g, [&](const int64_t(&off)[3]) { out[off[0]] = binary_fn<T, O>(op, a[off[1]], b[off[2]]); });
}

template <typename T>
__global__ void where_contiguous(T* out, const bool* cond, const T* a, const T* b, int64_t n) {
  map_contiguous<kVec>(
      n, [](bool c, T x, T y) { return c ? x : y; }, out, cond, a, b);
}
template <typename T>
__global__ void where_strided(Geometry<4> g, T* out, const bool* cond, const T* a, const T* b) {
  for_each_strided(
      g, [&](const int64_t(&off)[4]) { out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]]; });
}

LaunchConfig config(const char* name, int64_t n) {
  return {name, dim3(grid_for((n + kVec - 1) / kVec, kThreads)), dim3(kThreads)};
}

}  // namespace

void launch_copy(DType out_dtype, DType in_dtype, const Geometry<2>& g, bool contiguous, void* out,
                 const void* in) {
  dispatch_all(out_dtype, "copy", [&](auto o) {
    using O = decltype(o);
    dispatch_all(in_dtype, "copy", [&](auto i) {
      using I = decltype(i);
      auto* po = static_cast<O*>(out);
      const auto* pi = static_cast<const I*>(in);
      if (contiguous) {
        launch(config("copy_contiguous", g.numel), &copy_contiguous<O, I>, po, pi, g.numel);
      } else {
        launch(config("copy_strided", g.numel), &copy_strided<O, I>, g, po, pi);
      }
    });
  });
}

void launch_fill(DType dtype, const Geometry<1>& g, bool contiguous, void* out,
                 const Scalar& value) {
  dispatch_all(dtype, "fill", [&](auto tag) {
    using T = decltype(tag);
    const T v = value.to<T>();
    if (contiguous) {
      launch(config("fill_contiguous", g.numel), &fill_contiguous<T>, static_cast<T*>(out), g.numel,
             v);
    } else {
      launch(config("fill_strided", g.numel), &fill_strided<T>, g, static_cast<T*>(out), v);
    }
  });
}

void launch_unary(UnaryOp op, DType in_dtype, const Geometry<2>& g, bool contiguous, void* out,
                  const void* in, double arg, double arg2) {
  dispatch_with_halves(in_dtype, to_string(op), [&](auto tag) {
    using T = decltype(tag);
    auto* po = static_cast<T*>(out);
    const auto* pi = static_cast<const T*>(in);
    if (contiguous) {
      launch(config("unary_contiguous", g.numel), &unary_contiguous<T>, op, po, pi, g.numel, arg,
             arg2);
    } else {
      launch(config("unary_strided", g.numel), &unary_strided<T>, op, g, po, pi, arg, arg2);
    }
  });
}

void launch_binary(BinaryOp op, DType dtype, const Geometry<3>& g, bool contiguous, void* out,
                   const void* a, const void* b) {
  const bool to_bool = is_predicate(op);
  dispatch_with_halves(dtype, to_string(op), [&](auto tag) {
    using T = decltype(tag);
    const auto* pa = static_cast<const T*>(a);
    const auto* pb = static_cast<const T*>(b);
    auto run = [&](auto out_tag) {
      using O = decltype(out_tag);
      auto* po = static_cast<O*>(out);
      if (contiguous) {
        launch(config("binary_contiguous", g.numel), &binary_contiguous<T, O>, op, po, pa, pb,
               g.numel);
      } else {
        launch(config("binary_strided", g.numel), &binary_strided<T, O>, op, g, po, pa, pb);
      }
    };
    if (to_bool) {
      run(bool{});
    } else {
      run(T{});
    }
  });
}

void launch_where(DType dtype, const Geometry<4>& g, bool contiguous, void* out, const void* cond,
                  const void* a, const void* b) {
  dispatch_all(dtype, "where", [&](auto tag) {
    using T = decltype(tag);
    auto* po = static_cast<T*>(out);
    const auto* pc = static_cast<const bool*>(cond);
    const auto* pa = static_cast<const T*>(a);
    const auto* pb = static_cast<const T*>(b);
    if (contiguous) {
      launch(config("where_contiguous", g.numel), &where_contiguous<T>, po, pc, pa, pb, g.numel);
    } else {
      launch(config("where_strided", g.numel), &where_strided<T>, g, po, pc, pa, pb);
    }
  });
}

}  // namespace ember::EMBER_VARIANT
