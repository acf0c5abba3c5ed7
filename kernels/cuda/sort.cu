// Stable sort of each row (sort, argsort, topk).
//
// Math:   values[r, :] = in[r, :] ordered ascending (descending), indices[r, j] = the column
//         values[r, j] came from. The order is total: by value with NaN the largest, ties by
//         column, so it is the stable order whatever the algorithm.
// Shapes: in, values (R, N) of one dtype (f32, f64, i64, bf16, f16), indices (R, N) i64,
//         contiguous. bf16/f16 keys are compared as floats (widened exactly on load).
// Split:  v1 bitonic (N <= 2048): one block of min(256, P) threads per row (grid-stride over
//            rows), P = N rounded up to a power of two; the row's (value, column) pairs sit
//            in shared memory, padded with columns >= N that sort after everything; the
//            log2(P) (log2(P) + 1) / 2 compare-exchange steps each take a barrier.
//         v2 rank (N > 2048): one thread per element, grid-stride; its rank is the number of
//            row elements before it in the total order, where it is written. O(N^2) compares
//            per row: correct first, a merge-path sort would replace it for long rows.
// Cost:   v1 R P log2(P)^2 / 4 compares, v2 R N^2; bytes R N (2 sizeof(T) + 8).
// Pre:    N >= 1.
#include "kernels/cuda/sort.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int64_t kBitonicMax = 2048;
constexpr int kMaxThreads = 256;

template <typename T>
EMBER_DEVICE bool nan_of(T v) {
  return v != v;  // only NaN differs from itself (never for i64)
}

// Whether (a, column ia) comes before (b, column ib) in the row's order.
template <typename T>
EMBER_DEVICE bool before(T a, int64_t ia, T b, int64_t ib, bool descending) {
  const bool an = nan_of(a), bn = nan_of(b);
  if (an || bn) {
    if (an && bn) return ia < ib;
    return descending ? an : bn;  // NaN is the largest: first descending, last ascending
  }
  if (a != b) return descending ? a > b : a < b;
  return ia < ib;
}

template <typename T>
__global__ void bitonic_kernel(int64_t R, int64_t N, int64_t P, bool descending, T* values,
                               int64_t* indices, const T* in) {
  using A = opmath_t<T>;  // the keys: exact widenings of the 16-bit values
  __shared__ A key[kBitonicMax];
  __shared__ int64_t col[kBitonicMax];
  const auto t = static_cast<int64_t>(threadIdx.x), threads = static_cast<int64_t>(blockDim.x);
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    for (int64_t i = t; i < P; i += threads) {
      key[i] = i < N ? static_cast<A>(in[r * N + i]) : A(0);
      col[i] = i;
    }
    __syncthreads();
    for (int64_t k = 2; k <= P; k <<= 1) {
      for (int64_t j = k >> 1; j > 0; j >>= 1) {
        for (int64_t i = t; i < P; i += threads) {
          const int64_t partner = i ^ j;
          if (partner <= i) continue;
          // The pair (i, partner) is put in order (ascending runs where bit k of i is 0).
          const bool up = (i & k) == 0;
          const int64_t lo = up ? i : partner, hi = up ? partner : i;
          // Padding (column >= N) goes after every element.
          const bool swap = col[lo] >= N   ? col[hi] < N
                            : col[hi] >= N ? false
                                           : before(key[hi], col[hi], key[lo], col[lo], descending);
          if (swap) {
            const A kv = key[i];
            key[i] = key[partner];
            key[partner] = kv;
            const int64_t cv = col[i];
            col[i] = col[partner];
            col[partner] = cv;
          }
        }
        __syncthreads();
      }
    }
    for (int64_t i = t; i < N; i += threads) {
      values[r * N + i] = T(key[i]);
      indices[r * N + i] = col[i];
    }
    __syncthreads();  // the next row's loads wait for every store of this one
  }
}

template <typename T>
__global__ void rank_kernel(int64_t R, int64_t N, bool descending, T* values, int64_t* indices,
                            const T* in) {
  using A = opmath_t<T>;
  for (int64_t e = global_thread(); e < R * N; e += grid_threads()) {
    const int64_t r = e / N, i = e % N;
    const T* row = in + r * N;
    const A v = static_cast<A>(row[i]);
    int64_t rank = 0;
    for (int64_t j = 0; j < N; ++j)
      rank += before(static_cast<A>(row[j]), j, v, i, descending) ? 1 : 0;
    values[r * N + rank] = row[i];
    indices[r * N + rank] = i;
  }
}

template <typename T>
void launch_typed(const SortShape& s, void* values, int64_t* indices, const void* in) {
  auto* out = static_cast<T*>(values);
  const auto* src = static_cast<const T*>(in);
  if (s.cols <= kBitonicMax) {
    int64_t P = 1;
    while (P < s.cols) P <<= 1;
    const int threads = static_cast<int>(P < kMaxThreads ? P : kMaxThreads);
    const auto blocks = static_cast<unsigned>(s.rows < 65535 ? s.rows : 65535);
    launch(LaunchConfig{"sort_bitonic", dim3(blocks), dim3(static_cast<unsigned>(threads))},
           &bitonic_kernel<T>, s.rows, s.cols, P, s.descending, out, indices, src);
    return;
  }
  launch(LaunchConfig{"sort_rank", dim3(grid_for(s.rows * s.cols, kMaxThreads)), dim3(kMaxThreads)},
         &rank_kernel<T>, s.rows, s.cols, s.descending, out, indices, src);
}

}  // namespace

void launch_sort(DType dtype, const SortShape& s, void* values, int64_t* indices, const void* in) {
  switch (dtype) {
    case DType::f32: return launch_typed<float>(s, values, indices, in);
    case DType::f64: return launch_typed<double>(s, values, indices, in);
    case DType::i64: return launch_typed<int64_t>(s, values, indices, in);
    case DType::bf16: return launch_typed<bf16>(s, values, indices, in);  // issue 16
    case DType::f16: return launch_typed<f16>(s, values, indices, in);
    case DType::b8: break;
    default: break;  // the dtypes of issue 16 have no kernel here
  }
  fail<InternalError>("sort", "no kernel for ", dtype);
}

}  // namespace ember::EMBER_VARIANT
