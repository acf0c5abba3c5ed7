// Embedding lookup and its deterministic backward (no float atomics).
//
// Math:   forward out[m, :] = weight[idx[m], :].
//         backward gw[v, :] = sum over m with idx[m] == v (v != padding_idx), in
//         increasing m, of g[m, :]; rows nobody looked up are zero.
// Shapes: weight (V, D), idx (M) i64, out and g (M, D), gw (V, D), all contiguous.
// Split:  forward: one thread per output element, grid-stride, 256 per block.
//         backward: a stable bucket sort of the positions m by index value with integer
//         work only, then fixed-order sums:
//           1. count[v] = |{m : idx[m] = v}|      (integer atomicAdd, order-free)
//           2. start = exclusive scan of count    (one block of 256 threads: chunk sums,
//                                                  a serial scan of the 256 partials)
//           3. pos[start[v] + k] = m              (slots claimed by integer atomicAdd ...)
//           4. each bucket sorted ascending       (... then put in order: one thread per
//                                                  bucket, insertion sort)
//           5. gw[v, d] = sum_k g[pos[k], d]      (one thread per (v, d), bucket order)
//         so every float sum runs in increasing m whatever the schedule; bf16/f16 sums
//         run in f32 and round once.
// Cost:   forward: bytes = M*D*sizeof(T)*2 + 8*M, FLOPs 0. backward: M*D adds, bytes =
//         (M + V)*D*sizeof(T) + ~40*M + 24*V; step 4 is O(n^2) in a bucket's size n
//         (buckets are small in language models but for padding, which is skipped).
// Errors: an index outside [0, V) is recorded in the runtime's error slot
//         (kernels/cuda/index_flag.h), raised as IndexError naming embedding at the next
//         synchronization the user causes.
// Pre:    D >= 1, M >= 1.
#include "kernels/cuda/embedding.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/index_flag.h"
#include "kernels/cuda/runtime.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;
constexpr int kScanThreads = 256;
using u64 = unsigned long long;

template <typename T>
__global__ void forward_kernel(int64_t M, int64_t V, int64_t D, T* out, const T* w,
                               const int64_t* idx, rt::IndexErrorSlot* slot) {
  for (int64_t e = global_thread(); e < M * D; e += grid_threads()) {
    const int64_t v = idx[e / D];
    if (check_index(v, V, slot, kEmbedding)) out[e] = w[v * D + e % D];
  }
}

// Indices that take part: in range and not the padding row.
EMBER_DEVICE bool counted(int64_t v, int64_t V, int64_t pad, rt::IndexErrorSlot* slot) {
  return check_index(v, V, slot, kEmbedding) && v != pad;
}

__global__ void count_kernel(int64_t M, int64_t V, int64_t pad, const int64_t* idx, u64* count,
                             rt::IndexErrorSlot* slot) {
  for (int64_t m = global_thread(); m < M; m += grid_threads()) {
    const int64_t v = idx[m];
    if (counted(v, V, pad, slot)) atomicAdd(count + v, 1ull);
  }
}

// start[v] = sum_{u < v} count[u] for v in [0, V]; one block.
__global__ void scan_kernel(int64_t V, const u64* count, u64* start) {
  __shared__ u64 partial[kScanThreads];
  const int64_t chunk = (V + kScanThreads - 1) / kScanThreads;
  const int64_t lo = threadIdx.x * chunk, hi = lo + chunk < V ? lo + chunk : V;
  u64 s = 0;
  for (int64_t v = lo; v < hi; ++v) s += count[v];
  partial[threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    u64 run = 0;
    for (int t = 0; t < kScanThreads; ++t) {
      const u64 c = partial[t];
      partial[t] = run;
      run += c;
    }
    start[V] = run;
  }
  __syncthreads();
  u64 run = partial[threadIdx.x];
  for (int64_t v = lo; v < hi; ++v) {
    start[v] = run;
    run += count[v];
  }
}

__global__ void place_kernel(int64_t M, int64_t V, int64_t pad, const int64_t* idx, u64* cursor,
                             int64_t* pos) {
  for (int64_t m = global_thread(); m < M; m += grid_threads()) {
    const int64_t v = idx[m];
    if (v >= 0 && v < V && v != pad) pos[atomicAdd(cursor + v, 1ull)] = m;
  }
}

__global__ void sort_buckets_kernel(int64_t V, const u64* start, int64_t* pos) {
  for (int64_t v = global_thread(); v < V; v += grid_threads()) {
    const auto lo = static_cast<int64_t>(start[v]), hi = static_cast<int64_t>(start[v + 1]);
    for (int64_t i = lo + 1; i < hi; ++i) {
      const int64_t key = pos[i];
      int64_t j = i - 1;
      while (j >= lo && pos[j] > key) {
        pos[j + 1] = pos[j];
        --j;
      }
      pos[j + 1] = key;
    }
  }
}

template <typename T>
__global__ void sum_kernel(int64_t V, int64_t D, const u64* start, const int64_t* pos, const T* g,
                           T* gw) {
  for (int64_t e = global_thread(); e < V * D; e += grid_threads()) {
    const int64_t v = e / D, d = e % D;
    opmath_t<T> s = 0;  // bf16/f16 sum in f32, rounded once
    for (auto k = static_cast<int64_t>(start[v]); k < static_cast<int64_t>(start[v + 1]); ++k)
      s += static_cast<opmath_t<T>>(g[pos[k] * D + d]);
    gw[e] = T(s);
  }
}

LaunchConfig config(const char* name, int64_t n) {
  return {name, dim3(grid_for(n, kThreads)), dim3(kThreads)};
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(bf16{});  // issue 16
    case DType::f16: return f(f16{});
    default: fail<InternalError>("embedding", "no kernel for ", dtype);
  }
}

}  // namespace

void launch_embedding_forward(DType dtype, const EmbeddingShape& s, void* out, const void* weight,
                              const int64_t* indices) {
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("embedding_forward", s.num_indices * s.dim), &forward_kernel<T>, s.num_indices,
           s.num_rows, s.dim, static_cast<T*>(out), static_cast<const T*>(weight), indices,
           rt::index_error_slot());
  });
}

void launch_embedding_backward(DType dtype, const EmbeddingShape& s, void* grad_weight,
                               const void* grad_out, const int64_t* indices) {
  const int64_t M = s.num_indices, V = s.num_rows;
  // count (V), start (V + 1), cursor (V) as u64, then pos (M) as i64.
  rt::Scratch scratch(static_cast<size_t>(3 * V + 1 + M) * sizeof(u64));
  auto* count = static_cast<u64*>(scratch.get());
  u64* start = count + V;
  u64* cursor = start + V + 1;
  auto* pos = reinterpret_cast<int64_t*>(cursor + V);
  rt::memset(count, 0, static_cast<size_t>(V) * sizeof(u64));
  launch(config("embedding_backward_count", M), &count_kernel, M, V, s.padding_idx, indices, count,
         rt::index_error_slot());
  launch(LaunchConfig{"embedding_backward_scan", dim3(1), dim3(kScanThreads)}, &scan_kernel, V,
         static_cast<const u64*>(count), start);
  rt::memcpy_d2d(cursor, start, static_cast<size_t>(V) * sizeof(u64));
  launch(config("embedding_backward_place", M), &place_kernel, M, V, s.padding_idx, indices, cursor,
         pos);
  launch(config("embedding_backward_sort", V), &sort_buckets_kernel, V,
         static_cast<const u64*>(start), pos);
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("embedding_backward_sum", V * s.dim), &sum_kernel<T>, V, s.dim,
           static_cast<const u64*>(start), static_cast<const int64_t*>(pos),
           static_cast<const T*>(grad_out), static_cast<T*>(grad_weight));
  });
}

}  // namespace ember::EMBER_VARIANT
