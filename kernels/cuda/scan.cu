// Inclusive scans along one dim: cumsum and cumprod (and their suffix forms, for backward).
//
// Math:   out[o, k, i] = in[o, 0, i] op ... op in[o, k, i]; reverse: in[o, k, i] op ... op
//         in[o, K - 1, i]. op is + or *, accumulated in the dtype (f32, f64, i64); bf16/f16
//         accumulate in f32 (torch's opmath) and round each output once.
// Shapes: in, out (O, K, I) contiguous.
// Split:  v1 lines: one thread per line (o, i), grid-stride, walking k serially; neighbouring
//            threads take neighbouring i, so every step of the walk is one coalesced row.
//            Used when there are many lines (enough to fill the GPU) or the lines are short.
//         v2 block: one block of 256 threads per line (o, i), grid-stride over the lines;
//            the line goes in tiles of 256: each thread loads one element, a Hillis-Steele
//            scan in shared memory (8 steps, a barrier around each), plus the carry of the
//            tiles before it, which thread 255 leaves in shared memory for the next tile.
// Cost:   O*K*I ops (v2: 8x as many, in parallel); bytes 2*O*K*I*sizeof(T).
// Pre:    K >= 1.
#include "kernels/cuda/scan.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;
constexpr int kLog2Threads = 8;
constexpr int64_t kBlockLines = 4096;  // below this many lines (and K >= 64): v2

template <typename T, bool kProd>
EMBER_DEVICE T combine(T a, T b) {
  if constexpr (kProd) {
    return a * b;
  } else {
    return a + b;
  }
}

// T is the storage type, A = opmath_t<T> the accumulator's.
template <typename T, bool kProd>
__global__ void lines_kernel(int64_t O, int64_t K, int64_t I, bool reverse, T* out, const T* in) {
  using A = opmath_t<T>;
  for (int64_t line = global_thread(); line < O * I; line += grid_threads()) {
    const int64_t o = line / I, i = line % I;
    const int64_t base = o * K * I + i;
    int64_t at = base + (reverse ? (K - 1) * I : 0);
    const int64_t step = reverse ? -I : I;
    A acc = static_cast<A>(in[at]);
    out[at] = T(acc);
    for (int64_t k = 1; k < K; ++k) {
      at += step;
      acc = combine<A, kProd>(acc, static_cast<A>(in[at]));
      out[at] = T(acc);
    }
  }
}

template <typename T, bool kProd>
__global__ void block_kernel(int64_t O, int64_t K, int64_t I, bool reverse, T* out, const T* in) {
  using A = opmath_t<T>;
  __shared__ A tile[kThreads];
  __shared__ A carry;
  const int t = static_cast<int>(threadIdx.x);
  for (int64_t line = blockIdx.x; line < O * I; line += gridDim.x) {
    const int64_t base = line / I * K * I + line % I;
    const T* src = in + base;
    T* dst = out + base;
    for (int64_t k0 = 0; k0 < K; k0 += kThreads) {
      const int64_t k = k0 + t;
      const int64_t at = (reverse ? K - 1 - k : k) * I;
      const A identity = kProd ? A(1) : A(0);
      A v = k < K ? static_cast<A>(src[at]) : identity;
      tile[t] = v;
      __syncthreads();
      for (int s = 0; s < kLog2Threads; ++s) {
        const int d = 1 << s;
        const A left = t >= d ? tile[t - d] : identity;
        __syncthreads();  // every read of this step before any write
        v = combine<A, kProd>(left, v);
        tile[t] = v;
        __syncthreads();
      }
      if (k0 > 0) v = combine<A, kProd>(carry, v);
      if (k < K) dst[at] = T(v);
      __syncthreads();  // every thread has read the old carry
      if (t == kThreads - 1) carry = v;
      __syncthreads();
    }
  }
}

template <typename T, bool kProd>
void launch_typed(const ScanShape& s, void* out, const void* in) {
  auto* dst = static_cast<T*>(out);
  const auto* src = static_cast<const T*>(in);
  const int64_t lines = s.outer * s.inner;
  // Long lines too few to fill the GPU one thread each: a block per line.
  if (s.len >= 64 && lines < kBlockLines) {
    launch(LaunchConfig{"scan_block", dim3(static_cast<unsigned>(lines)), dim3(kThreads)},
           &block_kernel<T, kProd>, s.outer, s.len, s.inner, s.reverse, dst, src);
    return;
  }
  launch(LaunchConfig{"scan_lines", dim3(grid_for(lines, kThreads)), dim3(kThreads)},
         &lines_kernel<T, kProd>, s.outer, s.len, s.inner, s.reverse, dst, src);
}

template <typename T>
void launch_op(const ScanShape& s, void* out, const void* in) {
  if (s.prod) return launch_typed<T, true>(s, out, in);
  launch_typed<T, false>(s, out, in);
}

}  // namespace

void launch_scan(DType dtype, const ScanShape& s, void* out, const void* in) {
  switch (dtype) {
    case DType::f32: return launch_op<float>(s, out, in);
    case DType::f64: return launch_op<double>(s, out, in);
    case DType::i64: return launch_op<int64_t>(s, out, in);
    case DType::bf16: return launch_op<bf16>(s, out, in);  // issue 16
    case DType::f16: return launch_op<f16>(s, out, in);
    case DType::b8: break;
    default: break;  // the dtypes of issue 16 have no kernel here
  }
  fail<InternalError>(s.prod ? "cumprod" : "cumsum", "no kernel for ", dtype);
}

}  // namespace ember::EMBER_VARIANT
