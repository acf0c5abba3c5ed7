// Inclusive scans (cumsum, cumprod) on the cpu device.
//
// Math:   out[o, k, i] = in[o, 0, i] op ... op in[o, k, i]   (reverse: in[o, k..K-1, i])
// Shapes: in, out (O, K, I) contiguous, one dtype (f32, f64, i64, bf16, f16).
// Split:  OpenMP threads over tasks (o, a block of 256 columns i); a task's K steps walk
//         rows of contiguous elements, so the inner loop over i is unit-stride and
//         vectorizes (I = 1: one serial line per o). Each column's running value is an
//         opmath_t<T>: the input's dtype, so each output is the last one op the input, as
//         torch's cpu kernel; f32 for bf16/f16 (torch's opmath), each output rounded once.
// Cost:   O*K*I ops; bytes 2*O*K*I*sizeof(T).
#include <omp.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"

namespace ember::cpu {

namespace {

// Lines are split into tasks of (o, a block of up to kCols columns i), so a scan over
// dim 0 of a wide (K, I) tensor (O = 1) still spreads over the threads.
constexpr int64_t kCols = 256;

// bf16/f16 outputs are the f32 running value rounded once (summing the rounded outputs
// would add a rounding per step).
template <typename T, bool kProd>
void scan_lines(int64_t O, int64_t K, int64_t I, bool reverse, const T* in, T* out) {
  using Acc = opmath_t<T>;
  const int64_t blocks = (I + kCols - 1) / kCols, tasks = O * blocks;
  const bool parallel = O * K * I >= kParallelGrain && tasks > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t o = task / blocks, lo = task % blocks * kCols;
    const int64_t n = (lo + kCols < I ? lo + kCols : I) - lo;
    const T* src = in + o * K * I + lo;
    T* dst = out + o * K * I + lo;
    Acc acc[kCols];
    const int64_t first = reverse ? (K - 1) * I : 0;
    for (int64_t i = 0; i < n; ++i) {
      acc[i] = static_cast<Acc>(src[first + i]);
      dst[first + i] = src[first + i];
    }
    for (int64_t k = 1; k < K; ++k) {
      const int64_t at = (reverse ? K - 1 - k : k) * I;
      for (int64_t i = 0; i < n; ++i) {
        const auto v = static_cast<Acc>(src[at + i]);
        acc[i] = kProd ? acc[i] * v : acc[i] + v;
        dst[at + i] = static_cast<T>(acc[i]);
      }
    }
  }
}

template <typename T>
void scan_typed(ScanOp op, int64_t O, int64_t K, int64_t I, bool reverse, const Tensor& in,
                const Tensor& out) {
  const auto* src = static_cast<const T*>(in.raw_data());
  auto* dst = static_cast<T*>(out.raw_data());
  if (op == ScanOp::sum) return scan_lines<T, false>(O, K, I, reverse, src, dst);
  scan_lines<T, true>(O, K, I, reverse, src, dst);
}

}  // namespace

void CpuBackend::scan(ScanOp op, const Tensor& out, const Tensor& in, bool reverse) {
  const FlushDenormals flush;
  const int64_t O = in.size(0), K = in.size(1), I = in.size(2);
  switch (in.dtype()) {
    case DType::f32: return scan_typed<float>(op, O, K, I, reverse, in, out);
    case DType::f64: return scan_typed<double>(op, O, K, I, reverse, in, out);
    case DType::i64: return scan_typed<int64_t>(op, O, K, I, reverse, in, out);
    case DType::bf16: return scan_typed<bf16>(op, O, K, I, reverse, in, out);  // issue 16
    case DType::f16: return scan_typed<f16>(op, O, K, I, reverse, in, out);
    case DType::b8: break;
    default: break;  // the dtypes of issue 16 have no kernel here
  }
  fail<InternalError>(to_string(op), "no cpu kernel for ", in.dtype());
}

}  // namespace ember::cpu
