// Batched GEMM of the cpu backend on Eigen: out (B, M, N) = a (B, M, K) @ b (B, K, N).
//
// Each operand is mapped in place when one of its two matrix dims has unit stride
// (row-major, or column-major as a transposed view gives); any other layout is copied
// once. A batch of products is split over threads; one large product is split into row
// blocks, one per thread. Eigen runs every product on one thread (it sees omp_in_parallel).
//
// bf16/f16 (issue 16): each operand is widened to f32 once (a batch-broadcast operand, such
// as linear's weight, once for all batches, not per batch), the f32 GEMM runs (f32
// accumulation) into an f32 result, which is rounded once into the 16-bit output. The
// widened copies cost 2x the operands' bytes of temporary memory; converting panels inside
// the GEMM's packing would avoid them, which Eigen does not let us hook.
#include <omp.h>

#include <Eigen/Core>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/widen.h"
#include "tensor/raw.h"

namespace ember::cpu {

namespace {

using Eigen::Dynamic;
using Eigen::OuterStride;

template <typename T, int Order>
using MatMap = Eigen::Map<const Eigen::Matrix<T, Dynamic, Dynamic, Order>, 0, OuterStride<>>;
template <typename T>
using OutMap = Eigen::Map<Eigen::Matrix<T, Dynamic, Dynamic, Eigen::RowMajor>>;

// How one (rows, cols) matrix of an operand sits in memory.
struct Layout {
  bool row_major;  // unit stride along cols (else along rows)
  int64_t ld;      // stride between rows (row-major) or columns (column-major)
};

bool layout_of(const Tensor& t, Layout* out) {
  int64_t rows = t.size(1), cols = t.size(2), rs = t.stride(1), cs = t.stride(2);
  if (cs == 1 || cols == 1) {
    *out = {true, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
    return out->ld >= cols;
  }
  if (rs == 1 || rows == 1) {
    *out = {false, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
    return out->ld >= rows;
  }
  return false;
}

template <typename T, int OA, int OB>
void gemm_batch(const Tensor& out, const Tensor& a, const Tensor& b, Layout la, Layout lb) {
  const int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  const int64_t sa = a.stride(0), sb = b.stride(0);
  auto one = [&](int64_t i, int64_t row0, int64_t rows) {
    MatMap<T, OA> A(pa + i * sa + row0 * (OA == Eigen::RowMajor ? la.ld : 1), rows, K,
                    OuterStride<>(la.ld));
    MatMap<T, OB> Bm(pb + i * sb, K, N, OuterStride<>(lb.ld));
    OutMap<T> C(po + i * M * N + row0 * N, rows, N);
    C.noalias() = A * Bm;
  };
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (B > 1 || threads == 1 || M * N * K < (int64_t{1} << 18)) {
#pragma omp parallel for schedule(static) if (B > 1 && threads > 1)
    for (int64_t i = 0; i < B; ++i) one(i, 0, M);
    return;
  }
  // One large product: each thread takes a block of rows and runs Eigen on one thread.
  // (Eigen's own threading spins between packing phases, which collapses when another
  // process shares the cores; row blocks only meet at the end of the region.)
  const int64_t block = (M + threads - 1) / threads;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int t = 0; t < threads; ++t) {
    int64_t row0 = t * block, rows = std::min(block, M - row0);
    if (rows > 0) one(0, row0, rows);
  }
}

template <typename T>
void gemm(const Tensor& out, const Tensor& a_in, const Tensor& b_in) {
  // ember splits products over threads itself (gemm_batch): Eigen must not start an
  // OpenMP team of its own, which for a small product outside a parallel region costs
  // far more than the product (waking the pool: 1.3 ms measured for 32x128 @ 128x32).
  // Eigen's setting is process-wide; a program that wants Eigen's threading for its own
  // products can set it back after ember's first matmul.
  [[maybe_unused]] static const bool eigen_single_threaded = (Eigen::setNbThreads(1), true);
  Tensor a = a_in, b = b_in;
  Layout la{}, lb{};
  if (!layout_of(a, &la)) {
    a = raw::contiguous(a);
    layout_of(a, &la);
  }
  if (!layout_of(b, &lb)) {
    b = raw::contiguous(b);
    layout_of(b, &lb);
  }
  constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;
  if (la.row_major && lb.row_major) return gemm_batch<T, R, R>(out, a, b, la, lb);
  if (la.row_major) return gemm_batch<T, R, C>(out, a, b, la, lb);
  if (lb.row_major) return gemm_batch<T, C, R>(out, a, b, la, lb);
  return gemm_batch<T, C, C>(out, a, b, la, lb);
}

// A bf16/f16 operand (B, rows, cols) as f32, keeping a broadcast batch (stride 0) broadcast.
Tensor widen_operand(CpuBackend& be, const Tensor& t) {
  if (t.size(0) > 1 && t.stride(0) == 0)
    return raw::expand(widened(be, raw::slice(t, 0, 0, 1, 1)), t.sizes());
  return widened(be, t);
}

void gemm_half(CpuBackend& be, const Tensor& out, const Tensor& a, const Tensor& b) {
  Tensor wide = wide_output(out);
  gemm<float>(wide, widen_operand(be, a), widen_operand(be, b));
  be.copy(out, wide);  // the one rounding
}

}  // namespace

void CpuBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  switch (out.dtype()) {
    case DType::f32: return gemm<float>(out, a, b);
    case DType::f64: return gemm<double>(out, a, b);
    case DType::bf16:
    case DType::f16: return gemm_half(*this, out, a, b);
    default: fail<InternalError>("matmul", "no cpu kernel for ", out.dtype());
  }
}

}  // namespace ember::cpu
