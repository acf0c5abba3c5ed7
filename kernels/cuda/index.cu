// Indexing kernels: index_select, gather and scatter_add, with device-side index checks.
//
// Math:   index_select: out[o, j, i] = in[o, index[j], i].
//         gather:       out[p] = in[p with p[dim] := index[p]].
//         scatter_add:  out[p with p[dim] := index[p]] += src[p]   (atomics).
// Shapes: index_select: in (outer, size, inner) contiguous, index (n), out (outer, n,
//         inner). gather/scatter_add: a Geometry over the index's shape (operands: out,
//         index, in/src), up to kMaxDims dims.
// Split:  one thread per output element (index_select, gather) or per source element
//         (scatter_add), grid-stride, 256 threads per block.
// Cost:   FLOPs = 0 (scatter_add: one add per source element); bytes = elements moved
//         * (element size + 8 for the index) + output.
// Errors: an index outside [0, size) is not dereferenced; the first such value is
//         recorded in the runtime's error slot (kernels/cuda/index_flag.h) and raised as
//         IndexError naming the op at the next synchronization the user causes; no
//         launch synchronizes.
// Pre:    scatter_add on floats adds in an unspecified order: sums can differ from the
//         cpu's in the last bits (as in PyTorch on CUDA).
// Versions: scatter_add_ordered (use_deterministic_algorithms): one thread per fiber (the
//         positions that differ only along `dim`), adding its sources in index order with
//         no atomics: two fibers never write the same output element, so the sums are the
//         same on every run (and equal the cpu's sequential ones). Parallel over
//         numel / size(dim) fibers only. bf16/f16 always take it (no 16-bit atomics on
//         ember's half types), adding in f32 and rounding after each add as the cpu does.
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/index.h"
#include "kernels/cuda/index_flag.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;

__global__ void check_range_kernel(const int64_t* index, int64_t n, int64_t bound, int64_t ignore,
                                   rt::IndexErrorSlot* slot, unsigned op) {
  for (int64_t e = global_thread(); e < n; e += grid_threads())
    if (index[e] != ignore) (void)check_index(index[e], bound, slot, op);
}

template <typename T>
__global__ void index_select_kernel(T* out, const T* in, const int64_t* index, int64_t outer,
                                    int64_t size, int64_t n, int64_t inner,
                                    rt::IndexErrorSlot* slot) {
  const int64_t total = outer * n * inner;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t i = e % inner, j = (e / inner) % n, o = e / (inner * n);
    const int64_t src = index[j];
    if (check_index(src, size, slot, kIndexSelect)) out[e] = in[(o * size + src) * inner + i];
  }
}

template <typename T>
__global__ void gather_kernel(Geometry<3> g, T* out, const int64_t* index, const T* in,
                              int64_t dim_size, int64_t dim_stride, rt::IndexErrorSlot* slot) {
  for_each_strided(g, [&](const int64_t(&off)[3]) {
    const int64_t j = index[off[1]];
    if (check_index(j, dim_size, slot, kGather)) out[off[0]] = in[off[2] + j * dim_stride];
  });
}

template <typename T>
EMBER_DEVICE void add_to(T* slot, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    if (v) *slot = true;  // every writer stores the same value: no atomic needed
  } else if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(slot), static_cast<unsigned long long>(v));
  } else {
    atomicAdd(slot, v);
  }
}

template <typename T>
__global__ void scatter_add_kernel(Geometry<3> g, T* out, const int64_t* index, const T* src,
                                   int64_t dim_size, int64_t dim_stride, rt::IndexErrorSlot* slot) {
  for_each_strided(g, [&](const int64_t(&off)[3]) {
    const int64_t j = index[off[1]];
    if (check_index(j, dim_size, slot, kScatterAdd))
      add_to(out + off[0] + j * dim_stride, src[off[2]]);
  });
}

// d: the geometry's dim along which index runs, or -1 when a chunk holds one position of it
// (for_each_chunk split it off); fibers are visited outermost-first, each in order of k.
template <typename T>
__global__ void scatter_add_ordered_kernel(Geometry<3> g, int d, T* out, const int64_t* index,
                                           const T* src, int64_t dim_size, int64_t dim_stride,
                                           rt::IndexErrorSlot* slot) {
  const int64_t len = d >= 0 ? g.sizes[d] : 1;
  const int64_t fibers = len == 0 ? 0 : g.numel / len;
  const int64_t index_step = d >= 0 ? g.strides[1][d] : 0;
  const int64_t src_step = d >= 0 ? g.strides[2][d] : 0;
  for (int64_t f = global_thread(); f < fibers; f += grid_threads()) {
    int64_t off[3] = {0, 0, 0};
    int64_t rest = f;
    for (int i = g.ndim - 1; i >= 0; --i) {
      if (i == d) continue;
      const int64_t c = rest % g.sizes[i];
      rest /= g.sizes[i];
      for (int t = 0; t < 3; ++t) off[t] += c * g.strides[t][i];
    }
    for (int64_t k = 0; k < len; ++k) {
      const int64_t j = index[off[1] + k * index_step];
      if (!check_index(j, dim_size, slot, kScatterAdd)) continue;
      T& o = out[off[0] + j * dim_stride];
      const T v = src[off[2] + k * src_step];
      if constexpr (std::is_same_v<T, bool>) o = o || v;
      else o = T(static_cast<opmath_t<T>>(o) + static_cast<opmath_t<T>>(v));
    }
  }
}

LaunchConfig config(const char* name, int64_t n) {
  return {name, dim3(grid_for(n, kThreads)), dim3(kThreads)};
}

}  // namespace

void launch_check_index_range(const int64_t* index, int64_t n, int64_t bound, int64_t ignore,
                              unsigned op) {
  launch(config("check_index_range", n), &check_range_kernel, index, n, bound, ignore,
         rt::index_error_slot(), op);
}

void launch_index_select(size_t element_size, void* out, const void* in, const int64_t* index,
                         int64_t outer, int64_t size, int64_t n, int64_t inner, int64_t dim) {
  (void)dim;  // a bad index names the op and the size; raised at the next synchronization
  const int64_t total = outer * n * inner;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    launch(config("index_select", total), &index_select_kernel<T>, static_cast<T*>(out),
           static_cast<const T*>(in), index, outer, size, n, inner, rt::index_error_slot());
  };
  switch (element_size) {
    case 1: run(uint8_t{}); break;
    case 2: run(uint16_t{}); break;  // bf16, f16 (issue 16)
    case 4: run(uint32_t{}); break;
    case 8: run(uint64_t{}); break;
    default:
      fail<InternalError>("index_select", "no kernel for elements of ", element_size, " bytes");
  }
}

namespace {
// Launches the gather or scatter_add kernel for dtype (kernel_for(T{}) names it), then
// leaves bad index values to the error slot.
template <typename KernelFor>
void launch_along_dim(const char* op, DType dtype, const Geometry<3>& g, void* out,
                      const int64_t* index, const void* in, int64_t dim, int64_t dim_size,
                      int64_t dim_stride, KernelFor kernel_for) {
  (void)dim;
  EMBER_DISPATCH(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    launch(config(op, g.numel), kernel_for(tag), g, static_cast<T*>(out), index,
           static_cast<const T*>(in), dim_size, dim_stride, rt::index_error_slot());
  });
}
}  // namespace

void launch_gather(DType dtype, const Geometry<3>& g, void* out, const int64_t* index,
                   const void* in, int64_t dim, int64_t dim_size, int64_t dim_stride) {
  (void)dim;
  dispatch_all(dtype, "gather", [&](auto tag) {  // a copy: every dtype
    using T = decltype(tag);
    launch(config("gather", g.numel), &gather_kernel<T>, g, static_cast<T*>(out), index,
           static_cast<const T*>(in), dim_size, dim_stride, rt::index_error_slot());
  });
}

void launch_scatter_add(DType dtype, const Geometry<3>& g, void* out, const int64_t* index,
                        const void* src, int64_t dim, int64_t dim_size, int64_t dim_stride) {
  launch_along_dim("scatter_add", dtype, g, out, index, src, dim, dim_size, dim_stride,
                   [](auto tag) { return &scatter_add_kernel<decltype(tag)>; });
}

void launch_scatter_add_ordered(DType dtype, const Geometry<3>& g, int geometry_dim, void* out,
                                const int64_t* index, const void* src, int64_t dim_size,
                                int64_t dim_stride) {
  const int64_t len = geometry_dim >= 0 ? g.sizes[geometry_dim] : 1;
  const int64_t fibers = len == 0 ? 0 : g.numel / len;
  if (fibers == 0) return;
  dispatch_with_halves(dtype, "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    launch(config("scatter_add_ordered", fibers), &scatter_add_ordered_kernel<T>, g, geometry_dim,
           static_cast<T*>(out), index, static_cast<const T*>(src), dim_size, dim_stride,
           rt::index_error_slot());
  });
}

}  // namespace ember::EMBER_VARIANT
