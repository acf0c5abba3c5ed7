// Helpers of the cpu kernels that run GEMMs on raw pointers into contiguous tensors
// (conv2d.cpp, conv2d_winograd*.cpp, attention.cpp).
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/host_cache.h"
#include "tensor/tensor.h"

namespace ember::cpu::dense {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// A row-major (rows, cols) matrix at a pointer, `ld` elements between rows.
template <typename T>
using ConstMap = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using MutMap = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;

template <typename T>
ConstMap<T> cmat(const T* p, int64_t rows, int64_t cols, int64_t ld) {
  return ConstMap<T>(p, rows, cols, Eigen::OuterStride<>(ld));
}
template <typename T>
MutMap<T> mat(T* p, int64_t rows, int64_t cols, int64_t ld) {
  return MutMap<T>(p, rows, cols, Eigen::OuterStride<>(ld));
}

// One GEMM operand at a raw pointer: element (r, c) at p[r rs + c cs], with rs or cs 1.
template <typename T>
struct Operand {
  const T* p;
  int64_t rs, cs;
};

// c (M, N; ldc between rows) = a @ b, or += with `accumulate`, on the calling thread. f32:
// a row-major b of at most gemm_narrow_max_cols() columns (64 with AVX-512, 32 with AVX2)
// is read in place by gemm_narrow_f32 (the Winograd channels layout's products: 16->16 at
// 28x28 15-20% less fwd+bwd time than on Eigen, 64->64 at 7x7 15% less than packed, on a
// Zen 5); other products go to ember's packed GEMM where the build has its micro-kernel
// (conv_seed_fwdbwd 3.68 -> 3.29 ms against Eigen's on an AVX-512 Xeon), else Eigen, or to
// Eigen when `packed` is false (it wins over packing a 16-wide side). f64: Eigen. c must
// not overlap a or b.
template <typename T>
void gemm(T* c, int64_t ldc, Operand<T> a, Operand<T> b, int64_t M, int64_t N, int64_t K,
          bool accumulate, bool packed = true) {
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_narrow_f32(c, ldc, {a.p, a.rs, a.cs}, {b.p, b.rs, b.cs}, M, N, K, accumulate)) return;
    if (packed && gemm_packed_available()) {
      gemm_packed_f32(c, ldc, {a.p, a.rs, a.cs}, {b.p, b.rs, b.cs}, M, N, K, accumulate);
      return;
    }
  }
  // Each operand has a unit stride on one side: a row-major map, or a transposed one.
  const auto with_map = [](Operand<T> o, int64_t r, int64_t cl, auto&& f) {
    if (o.cs == 1) {
      f(cmat<T>(o.p, r, cl, o.rs));
    } else {
      f(cmat<T>(o.p, cl, r, o.cs).transpose());
    }
  };
  auto cm = mat<T>(c, M, N, ldc);
  with_map(a, M, K, [&](const auto& am) {
    with_map(b, K, N, [&](const auto& bm) {
      if (accumulate) {
        cm.noalias() += am * bm;
      } else {
        cm.noalias() = am * bm;
      }
    });
  });
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Frees a scratch block through the cpu device's allocator, which wants its size back.
struct ScratchFree {
  size_t nbytes = 0;
  void operator()(void* p) const noexcept { host_deallocate(p, nbytes); }
};
template <typename T>
using ScratchPtr = std::unique_ptr<T[], ScratchFree>;

// Uninitialized per-thread scratch of n elements (at least one), from the cpu device's
// allocator (kernels/cpu/host_cache.h): a large block comes back from its cache already
// mapped, where new[] maps fresh pages on every call (a page fault and a page clear every
// 4 KiB: a fifth of a small convolution's time).
template <typename T>
ScratchPtr<T> scratch(int64_t n) {
  const size_t nbytes = sizeof(T) * static_cast<size_t>(std::max<int64_t>(n, 1));
  return ScratchPtr<T>(static_cast<T*>(host_allocate(nbytes)), ScratchFree{nbytes});
}

// Calls f(float{}) or f(double{}) for t's dtype; any other dtype is a bug in the op layer.
template <typename F>
void dispatch_floating(const Tensor& t, const char* op, F&& f) {
  switch (t.dtype()) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>(op, "no cpu kernel for ", t.dtype());
  }
}

// Typed element pointers of a contiguous tensor; null for an undefined (optional) one.
template <typename T>
const T* in_ptr(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr;
}
template <typename T>
T* out_ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

}  // namespace ember::cpu::dense
