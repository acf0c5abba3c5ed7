// Indexing kernels of the cpu backend: index_select, gather, scatter_add.
// Index values are checked here (they live in device memory) and reported as
// IndexError; these loops run on one thread so the check can throw.
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "tensor/raw.h"

namespace ember::cpu {

namespace {

void check_index(const char* op, int64_t j, int64_t size, int64_t dim) {
  if (j < 0 || j >= size)
    fail<IndexError>(op, "index ", j, " is out of bounds for dim ", dim, " with size ", size);
}

// Visits every multi-index of `shape` in row-major order: f(pos).
template <typename F>
void for_each_index(const Shape& shape, F f) {
  const auto nd = static_cast<int64_t>(shape.size());
  const int64_t n = numel(shape);
  std::vector<int64_t> pos(nd, 0);
  for (int64_t i = 0; i < n; ++i) {
    f(pos);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++pos[d] < shape[d]) break;
      pos[d] = 0;
    }
  }
}

int64_t offset_of(const std::vector<int64_t>& pos, const Strides& st, int64_t skip_dim = -1) {
  int64_t off = 0;
  for (size_t d = 0; d < pos.size(); ++d)
    if (static_cast<int64_t>(d) != skip_dim) off += pos[d] * st[d];
  return off;
}

}  // namespace

void CpuBackend::index_select(const Tensor& out, const Tensor& in_any, int64_t dim,
                              const Tensor& index) {
  Tensor in = raw::contiguous(in_any);
  const int64_t S = in.size(dim), N = index.numel();
  const auto* idx = static_cast<const int64_t*>(index.raw_data());
  for (int64_t j = 0; j < N; ++j) check_index("index_select", idx[j], S, dim);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= in.size(d);
  for (int64_t d = dim + 1; d < in.dim(); ++d) inner *= in.size(d);
  const auto row_bytes = static_cast<size_t>(inner) * in.element_size();
  const char* src = static_cast<const char*>(in.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < N; ++j)
      std::memcpy(dst + (o * N + j) * row_bytes, src + (o * S + idx[j]) * row_bytes, row_bytes);
}

void CpuBackend::gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  const int64_t S = in.size(dim);
  const auto* idx = static_cast<const int64_t*>(index.raw_data());
  dispatch_all(in.dtype(), "gather", [&](auto tag) {  // a copy: every dtype
    using T = decltype(tag);
    const T* src = static_cast<const T*>(in.raw_data());
    T* dst = static_cast<T*>(out.raw_data());
    int64_t i = 0;
    for_each_index(index.sizes(), [&](const std::vector<int64_t>& pos) {
      int64_t j = idx[offset_of(pos, index.strides())];
      check_index("gather", j, S, dim);
      dst[i++] = src[offset_of(pos, in.strides(), dim) + j * in.stride(dim)];
    });
  });
}

void CpuBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                             const Tensor& src_t) {
  const FlushDenormals flush;
  const int64_t S = out.size(dim);
  const auto* idx = static_cast<const int64_t*>(index.raw_data());
  // bf16/f16 add in f32 and round after each add (torch's per-element rounding).
  dispatch_with_halves(out.dtype(), "scatter_add", [&](auto tag) {
    using T = decltype(tag);
    using M = opmath_t<T>;
    const T* src = static_cast<const T*>(src_t.raw_data());
    T* dst = static_cast<T*>(out.raw_data());
    for_each_index(index.sizes(), [&](const std::vector<int64_t>& pos) {
      int64_t j = idx[offset_of(pos, index.strides())];
      check_index("scatter_add", j, S, dim);
      T& slot = dst[offset_of(pos, out.strides(), dim) + j * out.stride(dim)];
      slot = static_cast<T>(static_cast<M>(slot) +
                            static_cast<M>(src[offset_of(pos, src_t.strides())]));
    });
  });
}

}  // namespace ember::cpu
