// Elementwise kernels of the cpu backend: copy/cast, fill, unary, binary, where.
// Each op is a scalar lambda applied by one strided loop; the unit-stride path is a
// plain indexed loop the compiler vectorizes.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/cpu/half_rows.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/widen.h"
#include "kernels/scalar_semantics.h"

namespace ember::cpu {

namespace {

using scalar::convert;
using scalar::int_pow;
using scalar::nan_max;
using scalar::nan_min;

// out[i] = f(in[i])
template <typename O, typename I, typename F>
void map1(const Tensor& out, const Tensor& in, F f) {
  auto p = plan_loop<2>({&out, &in});
  run_loop(p, [&](const std::array<char*, 2>& ptr, const std::array<int64_t, 2>& st, int64_t n) {
    if (unit_stride<O, I>(st)) {
      O* o = reinterpret_cast<O*>(ptr[0]);
      const I* a = reinterpret_cast<const I*>(ptr[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else if (st[0] == sizeof(O) &&
               st[1] == 0) {  // one input value broadcast (a gradient of sum())
      O* o = reinterpret_cast<O*>(ptr[0]);
      const O v = f(*reinterpret_cast<const I*>(ptr[1]));
      for (int64_t i = 0; i < n; ++i) o[i] = v;
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<O*>(ptr[0] + i * st[0]) =
            f(*reinterpret_cast<const I*>(ptr[1] + i * st[1]));
    }
  });
}

// The f32 <-> bf16/f16 casts every half kernel makes around its f32 body (widen.h): unit-stride
// runs through half_rows.h's vector conversions, bit-equal to convert's scalar ones.
template <typename O, typename I>
void cast_half_rows(const Tensor& out, const Tensor& in) {
  auto p = plan_loop<2>({&out, &in});
  run_loop(p, [&](const std::array<char*, 2>& ptr, const std::array<int64_t, 2>& st, int64_t n) {
    if (unit_stride<O, I>(st)) {
      if constexpr (std::is_same_v<I, float>) {
        narrow_row(reinterpret_cast<const float*>(ptr[1]), reinterpret_cast<O*>(ptr[0]), n);
      } else {
        widen_row(reinterpret_cast<const I*>(ptr[1]), reinterpret_cast<float*>(ptr[0]), n);
      }
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<O*>(ptr[0] + i * st[0]) =
            convert<O>(*reinterpret_cast<const I*>(ptr[1] + i * st[1]));
    }
  });
}

// out[i] = f(a[i], b[i]), with fast paths for contiguous and scalar-broadcast operands.
template <typename O, typename T, typename F>
void map2(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  auto p = plan_loop<3>({&out, &a, &b});
  run_loop(p, [&](const std::array<char*, 3>& ptr, const std::array<int64_t, 3>& st, int64_t n) {
    O* o = reinterpret_cast<O*>(ptr[0]);
    const T* x = reinterpret_cast<const T*>(ptr[1]);
    const T* y = reinterpret_cast<const T*>(ptr[2]);
    if (unit_stride<O, T, T>(st)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (st[0] == sizeof(O) && st[1] == sizeof(T) && st[2] == 0) {
      const T yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (st[0] == sizeof(O) && st[1] == 0 && st[2] == sizeof(T)) {
      const T xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<O*>(ptr[0] + i * st[0]) =
            f(*reinterpret_cast<const T*>(ptr[1] + i * st[1]),
              *reinterpret_cast<const T*>(ptr[2] + i * st[2]));
    }
  });
}

// log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)).
template <typename T>
T softplus_fn(T z) {
  return (z > T(0) ? z : T(0)) + std::log1p(std::exp(-std::abs(z)));
}

// relu6(x + 3); NaN propagates.
template <typename T>
T relu6_shift(T x) {
  T r = x + T(3);
  r = r < T(0) ? T(0) : r;
  return r > T(6) ? T(6) : r;
}

template <typename T>
void unary_float(UnaryOp op, const Tensor& out, const Tensor& in, double arg, double arg2) {
  const T kSqrt1_2 = static_cast<T>(0.70710678118654752440);
  const T kSqrt2OverPi = static_cast<T>(0.79788456080286535588);
  switch (op) {
    case UnaryOp::neg: return map1<T, T>(out, in, [](T x) { return -x; });
    case UnaryOp::abs: return map1<T, T>(out, in, [](T x) { return std::abs(x); });
    case UnaryOp::sign:
      return map1<T, T>(out, in, [](T x) { return x > 0 ? T(1) : (x < 0 ? T(-1) : x); });
    case UnaryOp::exp: return map1<T, T>(out, in, [](T x) { return fast_exp(x); });
    case UnaryOp::log: return map1<T, T>(out, in, [](T x) { return std::log(x); });
    case UnaryOp::sqrt: return map1<T, T>(out, in, [](T x) { return std::sqrt(x); });
    case UnaryOp::rsqrt: return map1<T, T>(out, in, [](T x) { return T(1) / std::sqrt(x); });
    case UnaryOp::tanh: return map1<T, T>(out, in, [](T x) { return fast_tanh(x); });
    case UnaryOp::sigmoid:
      return map1<T, T>(out, in, [](T x) { return T(1) / (T(1) + fast_exp(-x)); });
    case UnaryOp::relu: return map1<T, T>(out, in, [](T x) { return x < T(0) ? T(0) : x; });
    case UnaryOp::gelu:
      return map1<T, T>(out, in, [=](T x) { return T(0.5) * x * (T(1) + fast_erf(x * kSqrt1_2)); });
    case UnaryOp::gelu_tanh:
      return map1<T, T>(out, in, [=](T x) {
        return T(0.5) * x * (T(1) + fast_tanh(kSqrt2OverPi * (x + T(0.044715) * x * x * x)));
      });
    case UnaryOp::silu: return map1<T, T>(out, in, [](T x) { return x / (T(1) + fast_exp(-x)); });
    case UnaryOp::sin: return map1<T, T>(out, in, [](T x) { return std::sin(x); });
    case UnaryOp::cos: return map1<T, T>(out, in, [](T x) { return std::cos(x); });
    case UnaryOp::erf: return map1<T, T>(out, in, [](T x) { return fast_erf(x); });
    case UnaryOp::pow_scalar: {
      const T e = static_cast<T>(arg);
      if (arg == 2.0) return map1<T, T>(out, in, [](T x) { return x * x; });
      return map1<T, T>(out, in, [=](T x) { return std::pow(x, e); });
    }
    case UnaryOp::logical_not: break;
    case UnaryOp::floor: return map1<T, T>(out, in, [](T x) { return std::floor(x); });
    case UnaryOp::ceil: return map1<T, T>(out, in, [](T x) { return std::ceil(x); });
    // nearbyint rounds half to even in the default rounding mode, as torch.round.
    case UnaryOp::round: return map1<T, T>(out, in, [](T x) { return std::nearbyint(x); });
    case UnaryOp::trunc: return map1<T, T>(out, in, [](T x) { return std::trunc(x); });
    case UnaryOp::log1p: return map1<T, T>(out, in, [](T x) { return std::log1p(x); });
    case UnaryOp::expm1: return map1<T, T>(out, in, [](T x) { return std::expm1(x); });
    case UnaryOp::clamp: {
      const T lo = static_cast<T>(arg), hi = static_cast<T>(arg2);
      return map1<T, T>(out, in, [=](T x) { return nan_min(nan_max(x, lo), hi); });
    }
    case UnaryOp::leaky_relu: {
      const T slope = static_cast<T>(arg);
      return map1<T, T>(out, in, [=](T x) { return x > T(0) ? x : x * slope; });
    }
    case UnaryOp::elu: {
      const T alpha = static_cast<T>(arg);
      return map1<T, T>(out, in, [=](T x) { return x > T(0) ? x : alpha * std::expm1(x); });
    }
    case UnaryOp::softplus: {
      const T beta = static_cast<T>(arg), threshold = static_cast<T>(arg2);
      return map1<T, T>(out, in, [=](T x) {
        const T z = x * beta;
        return z > threshold ? x : softplus_fn(z) / beta;
      });
    }
    case UnaryOp::mish:
      return map1<T, T>(out, in, [](T x) { return x * std::tanh(softplus_fn(x)); });
    case UnaryOp::hardswish:
      return map1<T, T>(out, in, [](T x) { return x * relu6_shift(x) / T(6); });
    case UnaryOp::hardsigmoid:
      return map1<T, T>(out, in, [](T x) { return relu6_shift(x) / T(6); });
  }
  fail<InternalError>(to_string(op), "no cpu kernel for ", out.dtype());
}

void unary_int(UnaryOp op, const Tensor& out, const Tensor& in, double arg, double arg2) {
  using T = int64_t;
  switch (op) {
    case UnaryOp::neg:
      return map1<T, T>(out, in,
                        [](T x) { return static_cast<T>(0ULL - static_cast<uint64_t>(x)); });
    case UnaryOp::abs:
      return map1<T, T>(
          out, in, [](T x) { return x < 0 ? static_cast<T>(0ULL - static_cast<uint64_t>(x)) : x; });
    case UnaryOp::sign: return map1<T, T>(out, in, [](T x) { return T((x > 0) - (x < 0)); });
    case UnaryOp::relu: return map1<T, T>(out, in, [](T x) { return x < 0 ? T(0) : x; });
    case UnaryOp::pow_scalar: {
      const auto e = static_cast<T>(arg);
      return map1<T, T>(out, in, [=](T x) { return int_pow(x, e); });
    }
    case UnaryOp::floor:
    case UnaryOp::ceil:
    case UnaryOp::round:
    case UnaryOp::trunc: return map1<T, T>(out, in, [](T x) { return x; });
    case UnaryOp::clamp: {
      // Bounds are integral and in range, or infinite for an absent one (raw::unary).
      const bool has_lo = arg > -1e19, has_hi = arg2 < 1e19;
      const T lo = has_lo ? static_cast<T>(arg) : std::numeric_limits<T>::min();
      const T hi = has_hi ? static_cast<T>(arg2) : std::numeric_limits<T>::max();
      return map1<T, T>(out, in, [=](T x) {
        const T y = x < lo ? lo : x;
        return y > hi ? hi : y;  // min > max gives max, as torch.clamp
      });
    }
    default: break;
  }
  fail<InternalError>(to_string(op), "no cpu kernel for ", out.dtype());
}

template <typename T>
void binary_typed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  switch (op) {
    case BinaryOp::add: return map2<T, T>(out, a, b, [](T x, T y) { return T(x + y); });
    case BinaryOp::sub: return map2<T, T>(out, a, b, [](T x, T y) { return T(x - y); });
    case BinaryOp::mul: return map2<T, T>(out, a, b, [](T x, T y) { return T(x * y); });
    case BinaryOp::div:
      if constexpr (std::is_floating_point_v<T>)
        return map2<T, T>(out, a, b, [](T x, T y) { return x / y; });
      break;
    case BinaryOp::pow:
      if constexpr (std::is_floating_point_v<T>) {
        return map2<T, T>(out, a, b, [](T x, T y) { return std::pow(x, y); });
      } else if constexpr (std::is_same_v<T, int64_t>) {
        return map2<T, T>(out, a, b, [](T x, T y) { return int_pow(x, y); });
      }
      break;
    case BinaryOp::maximum: return map2<T, T>(out, a, b, [](T x, T y) { return nan_max(x, y); });
    case BinaryOp::minimum: return map2<T, T>(out, a, b, [](T x, T y) { return nan_min(x, y); });
    case BinaryOp::relu_backward:
      return map2<T, T>(out, a, b, [](T g, T y) { return y > T(0) ? g : T(0); });
    case BinaryOp::eq: return map2<bool, T>(out, a, b, [](T x, T y) { return x == y; });
    case BinaryOp::ne: return map2<bool, T>(out, a, b, [](T x, T y) { return x != y; });
    case BinaryOp::lt: return map2<bool, T>(out, a, b, [](T x, T y) { return x < y; });
    case BinaryOp::le: return map2<bool, T>(out, a, b, [](T x, T y) { return x <= y; });
    case BinaryOp::gt: return map2<bool, T>(out, a, b, [](T x, T y) { return x > y; });
    case BinaryOp::ge: return map2<bool, T>(out, a, b, [](T x, T y) { return x >= y; });
    case BinaryOp::logical_and:
      if constexpr (std::is_same_v<T, bool>)
        return map2<bool, bool>(out, a, b, [](bool x, bool y) { return x && y; });
      break;
    case BinaryOp::logical_or:
      if constexpr (std::is_same_v<T, bool>)
        return map2<bool, bool>(out, a, b, [](bool x, bool y) { return x || y; });
      break;
  }
  fail<InternalError>(to_string(op), "no cpu kernel for ", a.dtype());
}

// A transposing copy: out's inner dim runs along a dim where `in` has unit stride (what
// permute + contiguous makes, e.g. a reduction over leading dims moving them last). The
// strided loop read one element per cache line there (16.5% of a char_lm step went to
// it); tiles of kTile x kTile read and write whole lines. Returns false for other layouts.
template <typename O, typename I>
bool copy_transposed(const Tensor& out, const Tensor& in) {
  const auto p = plan_loop<2>({&out, &in});
  const size_t nd = p.sizes.size();
  if (nd < 2 || p.numel < 1024) return false;
  const auto eo = static_cast<int64_t>(sizeof(O)), ei = static_cast<int64_t>(sizeof(I));
  const int64_t o_col = p.strides[0][nd - 1], i_col = p.strides[1][nd - 1];
  const int64_t o_row = p.strides[0][nd - 2], i_row = p.strides[1][nd - 2];
  if (o_col != eo || i_row != ei || i_col == ei) return false;
  constexpr int64_t kTile = 32;
  const int64_t rows = p.sizes[nd - 2], cols = p.sizes[nd - 1];
  int64_t batch = 1;
  for (size_t d = 0; d + 2 < nd; ++d) batch *= p.sizes[d];
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  const bool parallel =
      p.numel >= kParallelGrain && omp_get_max_threads() > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t task = 0; task < batch * row_tiles; ++task) {
    // The batch index's offsets over the leading dims (row-major, innermost last).
    int64_t rem = task / row_tiles, off_o = 0, off_i = 0;
    for (size_t d = nd - 2; d-- > 0;) {
      const int64_t k = rem % p.sizes[d];
      rem /= p.sizes[d];
      off_o += k * p.strides[0][d];
      off_i += k * p.strides[1][d];
    }
    const int64_t r0 = task % row_tiles * kTile, r1 = std::min(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r) {
        O* o = reinterpret_cast<O*>(p.base[0] + off_o + r * o_row);
        const char* a = p.base[1] + off_i + r * ei;
        for (int64_t c = c0; c < c1; ++c)
          o[c] = convert<O>(*reinterpret_cast<const I*>(a + c * i_col));
      }
    }
  }
  return true;
}

}  // namespace

void CpuBackend::copy(const Tensor& out, const Tensor& in) {
  dispatch_all(out.dtype(), "copy", [&](auto o) {
    using O = decltype(o);
    dispatch_all(in.dtype(), "copy", [&](auto i) {
      using I = decltype(i);
      if (copy_transposed<O, I>(out, in)) return;
      if constexpr ((std::is_same_v<I, float> && is_half_v<O>) ||
                    (std::is_same_v<O, float> && is_half_v<I>)) {
        return cast_half_rows<O, I>(out, in);
      }
      map1<O, I>(out, in, [](I v) { return convert<O>(v); });
    });
  });
}

void CpuBackend::fill(const Tensor& out, const Scalar& value) {
  dispatch_all(out.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    const T v = value.to<T>();
    auto p = plan_loop<1>({&out});
    run_loop(p, [&](const std::array<char*, 1>& ptr, const std::array<int64_t, 1>& st, int64_t n) {
      if (st[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(ptr[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(ptr[0] + i * st[0]) = v;
      }
    });
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in, double arg, double arg2) {
  const FlushDenormals flush;
  if (is_half(in.dtype())) {
    Tensor o = wide_output(out);
    unary(op, o, widened(*this, in), arg, arg2);
    if (!o.is_same(out)) copy(out, o);
    return;
  }
  switch (in.dtype()) {
    case DType::f32: return unary_float<float>(op, out, in, arg, arg2);
    case DType::f64: return unary_float<double>(op, out, in, arg, arg2);
    case DType::i64: return unary_int(op, out, in, arg, arg2);
    case DType::b8:
      if (op == UnaryOp::logical_not) return map1<bool, bool>(out, in, [](bool x) { return !x; });
      if (op == UnaryOp::sign) return map1<bool, bool>(out, in, [](bool x) { return x; });
      break;
    default: break;
  }
  fail<InternalError>(to_string(op), "no cpu kernel for ", in.dtype());
}

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const FlushDenormals flush;
  if (is_half(a.dtype())) {
    Tensor o = wide_output(out);
    binary(op, o, widened(*this, a), widened(*this, b));
    if (!o.is_same(out)) copy(out, o);
    return;
  }
  EMBER_DISPATCH(a.dtype(), to_string(op),
                 [&](auto tag) { binary_typed<decltype(tag)>(op, out, a, b); });
}

namespace {

// One value read as if it were a run: select_run's operand for a broadcast scalar.
template <typename T>
struct Broadcast {
  T v;
  T operator[](int64_t) const { return v; }
};

// o[i] = c[i] ? a[i] : b[i] over one unit-stride run; A and B are pointers or Broadcast.
template <typename T, typename A, typename B>
void select_run(T* o, const uint8_t* c, A a, B b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T x = a[i], y = b[i];  // both loaded: a branch-free select
    o[i] = c[i] != 0 ? x : y;
  }
}

}  // namespace

void CpuBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_all(out.dtype(), "where", [&](auto tag) {
    using T = decltype(tag);
    auto p = plan_loop<4>({&out, &cond, &a, &b});
    run_loop(p, [&](const std::array<char*, 4>& ptr, const std::array<int64_t, 4>& st, int64_t n) {
      // Unit-stride runs where a and b are each a full run or one broadcast value (autograd's
      // where(mask, g, 0) behind ReluBackward, ClampBackward, masked_fill): a select the
      // compiler vectorizes; the strided loop below costs several times more per element.
      const bool dense = st[0] == sizeof(T) && st[1] == sizeof(bool);
      const bool a_run = st[2] == sizeof(T), b_run = st[3] == sizeof(T);
      if (dense && (a_run || st[2] == 0) && (b_run || st[3] == 0)) {
        T* o = reinterpret_cast<T*>(ptr[0]);
        const auto* c = reinterpret_cast<const uint8_t*>(ptr[1]);  // bool bytes are 0 or 1
        const T* pa = reinterpret_cast<const T*>(ptr[2]);
        const T* pb = reinterpret_cast<const T*>(ptr[3]);
        if (a_run && b_run) return select_run(o, c, pa, pb, n);
        if (a_run) return select_run(o, c, pa, Broadcast<T>{*pb}, n);
        if (b_run) return select_run(o, c, Broadcast<T>{*pa}, pb, n);
        return select_run(o, c, Broadcast<T>{*pa}, Broadcast<T>{*pb}, n);
      }
      for (int64_t i = 0; i < n; ++i) {
        bool c = *reinterpret_cast<const bool*>(ptr[1] + i * st[1]);
        *reinterpret_cast<T*>(ptr[0] + i * st[0]) =
            c ? *reinterpret_cast<const T*>(ptr[2] + i * st[2])
              : *reinterpret_cast<const T*>(ptr[3] + i * st[3]);
      }
    });
  });
}

}  // namespace ember::cpu
