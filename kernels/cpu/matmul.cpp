// Batched GEMM of the cpu backend: out (B, M, N) = a (B, M, K) @ b (B, K, N).
//
// Which code multiplies (issue 19, gemm):
//   f32        ember's packed GEMM (gemm_packed.cpp: AVX-512 14 x 32 or AVX2 6 x 16
//              micro-kernel), except the skinny products of a wide linear layer, which
//              take gemm_skinny.cpp's kernels, and outputs thinner than 4 rows or 16
//              columns (matrix-vector products: packed_pays); a build for a CPU without
//              AVX2 and FMA keeps Eigen. Measured 10-30% less CPU time than Eigen on 512^3 and the
//              GPT step's shapes (docs/performance.md, "ember's packed GEMM").
//   bf16, f16  widened to f32 (below), then as f32.
//   f64        Eigen.
// Each operand is read in place when one of its two matrix dims has unit stride
// (row-major, or column-major as a transposed view gives); any other layout is copied
// once. A batch of products is split over threads. One large product is cut into one
// block per thread along the dim that keeps each thread's reads smallest (gemm_split):
//   K-split  when the output is small and K long (the seed step's 32 x 57600 @ 57600 x 128
//            forward): each thread multiplies a slice of K into its own partial output,
//            and the partials are summed in thread order (deterministic for a thread
//            count); a row or column split would make every thread read all of b.
//   N-split  when N >= 4 M (128 x 32 @ 32 x 57600, the seed step's weight gradient): each
//            thread reads a column block of b, all of the small a.
//   M-split  otherwise (a square product: measured as fast as or faster than an N-split).
//            For f32 the packed GEMM does this split itself: the threads pack all of b
//            once, together, and each multiplies its rows by the shared copy (512^3:
//            ~9% less CPU time than each thread packing b for itself).
// Eigen runs every block on one thread (it sees omp_in_parallel). The f32 products of a
// wide linear layer have kernels of their own (gemm_skinny.cpp; 2 threads: 1.3x, 2.2x
// and 1.35x less CPU time than Eigen).
//
// bf16/f16 (issue 16): each operand is widened to f32 once (a batch-broadcast operand, such
// as linear's weight, once for all batches, not per batch), the f32 GEMM runs (f32
// accumulation) into an f32 result, which is rounded once into the 16-bit output. The
// widened copies cost 2x the operands' bytes of temporary memory; converting panels inside
// the packed GEMM's packing (gemm_packed.cpp) would avoid them (not done yet).
#include <omp.h>

#include <Eigen/Core>

#include <algorithm>
#include <memory>
#include <type_traits>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/gemm_skinny.h"
#include "kernels/cpu/widen.h"
#include "tensor/raw.h"

namespace ember::cpu {

namespace {

using Eigen::Dynamic;
using Eigen::OuterStride;

template <typename T, int Order>
using MatMap = Eigen::Map<const Eigen::Matrix<T, Dynamic, Dynamic, Order>, 0, OuterStride<>>;
template <typename T>
using OutMap = Eigen::Map<Eigen::Matrix<T, Dynamic, Dynamic, Eigen::RowMajor>, 0, OuterStride<>>;

// Whether an f32 product of this output shape takes the packed GEMM. It pads the columns
// to whole micro-kernel panels (32 with AVX-512) and packs b for each row panel, so a
// matrix-vector product, or one nearly as thin, runs far slower than Eigen's gemv and
// narrow kernels: conv2d's bias gradient, (K, PQ) @ (PQ, 1) per image, made
// conv_seed_fwdbwd ~15% slower on 2 threads until thin products went back to Eigen.
constexpr int64_t kPackedMinRows = 4, kPackedMinCols = 16;
bool packed_pays(int64_t rows, int64_t cols) {
  return rows >= kPackedMinRows && cols >= kPackedMinCols && gemm_packed_available();
}

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

// Column blocks of an N-split start at multiples of this many elements (a cache line of
// f32), so no two threads write the same line of an output row.
constexpr int64_t kColAlign = 16;
// K-split only when the output is at most this many elements (each extra thread sums one
// partial of that size) and K is at least kKSplitRatio times the larger output dim.
constexpr int64_t kKSplitMaxOut = int64_t{1} << 16;
constexpr int64_t kKSplitRatio = 8;
// N-split only when N is at least this many times M (a square product splits rows: each
// thread's half of a's rows against all of b measured faster than the other way round).
constexpr int64_t kNSplitRatio = 4;

// One product out (M, N) = a (M, K) @ b (K, N) at raw pointers, as Eigen maps. The
// operand maps take the block's origin: row r, col c of a row-major operand is at
// r * ld + c, of a column-major one at c * ld + r.
template <typename T, int OA, int OB>
struct Product {
  const T* pa;
  const T* pb;
  Layout la, lb;

  static int64_t at(bool row_major, int64_t ld, int64_t r, int64_t c) {
    return row_major ? r * ld + c : c * ld + r;
  }
  static GemmOperand operand(const float* p, Layout l) {
    return l.row_major ? GemmOperand{p, l.ld, 1} : GemmOperand{p, 1, l.ld};
  }
  // out block (rows, cols) at `po` (ldo between rows) = a[row0:, k0:k0+depth] @
  // b[k0:k0+depth, col0:].
  void run(T* po, int64_t ldo, int64_t row0, int64_t rows, int64_t col0, int64_t cols, int64_t k0,
           int64_t depth) const {
    const T* a0 = pa + at(la.row_major, la.ld, row0, k0);
    const T* b0 = pb + at(lb.row_major, lb.ld, k0, col0);
    if constexpr (std::is_same_v<T, float>) {
      if (packed_pays(rows, cols)) {
        gemm_packed_f32(po, ldo, operand(a0, la), operand(b0, lb), rows, cols, depth, false);
        return;
      }
    }
    MatMap<T, OA> A(a0, rows, depth, OuterStride<>(la.ld));
    MatMap<T, OB> Bm(b0, depth, cols, OuterStride<>(lb.ld));
    OutMap<T> C(po, rows, cols, OuterStride<>(ldo));
    C.noalias() = A * Bm;
  }
};

// One large product on `threads` threads (see the header for the choice of split).
template <typename T, int OA, int OB>
void gemm_split(const Product<T, OA, OB>& p, T* po, int64_t M, int64_t N, int64_t K, int threads) {
  if (M * N <= kKSplitMaxOut && K >= kKSplitRatio * std::max(M, N)) {
    // Thread 0 writes its partial into out, the others into scratch; then every thread
    // adds the partials, in thread order, into its own slice of out.
    const int64_t slice = (K + threads - 1) / threads, MN = M * N;
    std::unique_ptr<T[]> partial(new T[static_cast<size_t>((threads - 1) * MN)]);
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t k0 = std::min<int64_t>(t * slice, K), depth = std::min(slice, K - k0);
      T* dst = t == 0 ? po : partial.get() + (t - 1) * MN;
      if (depth > 0) {
        p.run(dst, N, 0, M, 0, N, k0, depth);
      } else {
        std::fill(dst, dst + MN, T(0));
      }
#pragma omp barrier
      const int64_t chunk = (MN + nt - 1) / nt, e0 = std::min<int64_t>(t * chunk, MN),
                    e1 = std::min(MN, e0 + chunk);
      for (int u = 1; u < nt; ++u) {
        const T* src = partial.get() + (u - 1) * MN;
        for (int64_t e = e0; e < e1; ++e) po[e] += src[e];
      }
    }
    return;
  }
  if (N >= kNSplitRatio * M) {
    const int64_t block = (N / threads + kColAlign - 1) / kColAlign * kColAlign;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      const int64_t col0 = std::min<int64_t>(t * block, N);
      const int64_t cols = t == threads - 1 ? N - col0 : std::min(block, N - col0);
      if (cols > 0) p.run(po + col0, N, 0, M, col0, cols, 0, K);
    }
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    // The packed GEMM splits rows itself, with one packed copy of b for all threads.
    if (packed_pays(M, N) && gemm_packed_f32_rows_parallel(po, N, p.operand(p.pa, p.la),
                                                           p.operand(p.pb, p.lb), M, N, K, threads))
      return;
  }
  const int64_t block = (M + threads - 1) / threads;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int t = 0; t < threads; ++t) {
    const int64_t row0 = std::min<int64_t>(t * block, M), rows = std::min(block, M - row0);
    if (rows > 0) p.run(po + row0 * N, N, row0, rows, 0, N, 0, K);
  }
}

template <typename T, int OA, int OB>
void gemm_batch(const Tensor& out, const Tensor& a, const Tensor& b, Layout la, Layout lb) {
  const int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  const int64_t sa = a.stride(0), sb = b.stride(0);
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool parallel = threads > 1 && M * N * K >= (int64_t{1} << 18);
  if constexpr (std::is_same_v<T, float>) {
    // The skinny shapes of a wide linear layer have kernels of their own (gemm_skinny.h).
    if (B == 1 && skinny_gemm_f32(po, pa, la.row_major ? la.ld : 1, la.row_major ? 1 : la.ld, pb,
                                  lb.row_major ? lb.ld : 1, lb.row_major ? 1 : lb.ld, M, N, K,
                                  parallel ? threads : 1))
      return;
  }
  if (B > 1 || !parallel) {
#pragma omp parallel for schedule(static) if (B > 1 && threads > 1)
    for (int64_t i = 0; i < B; ++i) {
      Product<T, OA, OB>{pa + i * sa, pb + i * sb, la, lb}.run(po + i * M * N, N, 0, M, 0, N, 0, K);
    }
    return;
  }
  // One large product: each thread takes a block and runs Eigen on one thread.
  // (Eigen's own threading spins between packing phases, which collapses when another
  // process shares the cores; the blocks only meet at the end of the region.)
  gemm_split(Product<T, OA, OB>{pa, pb, la, lb}, po, M, N, K, threads);
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
  const FlushDenormals flush;
  switch (out.dtype()) {
    case DType::f32: return gemm<float>(out, a, b);
    case DType::f64: return gemm<double>(out, a, b);
    case DType::bf16:
    case DType::f16: return gemm_half(*this, out, a, b);
    default: fail<InternalError>("matmul", "no cpu kernel for ", out.dtype());
  }
}

}  // namespace ember::cpu
