// DeviceBackend's indexing, sorting and sampling (kernels/cuda/device_backend.h):
// index_select, the index range check, gather and scatter_add (index.cu; scatter_add adds in
// order under use_deterministic_algorithms and for bf16/f16, atomics otherwise), sort
// (sort.cu) and multinomial (multinomial.cu).
#include "kernels/cuda/device_backend.h"

#include <cstring>

#include "kernels/cuda/index.h"
#include "kernels/cuda/index_error.h"
#include "kernels/cuda/multinomial.h"
#include "kernels/cuda/plan.h"
#include "kernels/cuda/sort.h"
#include "tensor/determinism.h"
#include "tensor/raw.h"

namespace ember::EMBER_VARIANT {

void DeviceBackend::index_select(const Tensor& out, const Tensor& in_any, int64_t dim,
                                 const Tensor& index) {
  Tensor in = raw::contiguous(in_any);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= in.size(d);
  for (int64_t d = dim + 1; d < in.dim(); ++d) inner *= in.size(d);
  launch_index_select(in.element_size(), out.raw_data(), in.raw_data(),
                      static_cast<const int64_t*>(index.raw_data()), outer, in.size(dim),
                      index.numel(), inner, dim);
}

void DeviceBackend::check_index_range(const char* op, const Tensor& index, int64_t bound,
                                      int64_t ignore) {
  const unsigned id = std::strcmp(op, "nll_loss") == 0 ? kNllLoss : kIndexSelect;
  launch_check_index_range(static_cast<const int64_t*>(index.raw_data()), index.numel(), bound,
                           ignore, id);
}

void DeviceBackend::gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  auto p = plan<3>(index.sizes(), {&out, &index, &in}, /*merge=*/false);
  p.strides[2][static_cast<size_t>(dim)] = 0;
  for_each_chunk(p, [&](const Geometry<3>& g, bool, const std::array<char*, 3>& ptr) {
    launch_gather(in.dtype(), g, ptr[0], reinterpret_cast<const int64_t*>(ptr[1]), ptr[2], dim,
                  in.size(dim), in.stride(dim));
  });
}

void DeviceBackend::scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                                const Tensor& src) {
  auto p = plan<3>(index.sizes(), {&out, &index, &src}, /*merge=*/false);
  p.strides[0][static_cast<size_t>(dim)] = 0;
  // Floating-point atomics add in a varying order; under use_deterministic_algorithms
  // each fiber adds its sources in order instead (integer and bool sums commute).
  // bf16/f16 always add in order (issue 16): their kernels have no 16-bit atomics.
  if (is_floating(out.dtype()) &&
      (are_deterministic_algorithms_enabled() || is_half(out.dtype()))) {
    const auto nd = static_cast<int64_t>(p.sizes.size());
    const int64_t outer = nd > kMaxDims ? nd - kMaxDims : 0;  // dims for_each_chunk splits off
    const int gdim = index.dim() == 0 || dim < outer ? -1 : static_cast<int>(dim - outer);
    for_each_chunk(p, [&](const Geometry<3>& g, bool, const std::array<char*, 3>& ptr) {
      launch_scatter_add_ordered(out.dtype(), g, gdim, ptr[0],
                                 reinterpret_cast<const int64_t*>(ptr[1]), ptr[2], out.size(dim),
                                 out.stride(dim));
    });
    return;
  }
  for_each_chunk(p, [&](const Geometry<3>& g, bool, const std::array<char*, 3>& ptr) {
    launch_scatter_add(out.dtype(), g, ptr[0], reinterpret_cast<const int64_t*>(ptr[1]), ptr[2],
                       dim, out.size(dim), out.stride(dim));
  });
}

// sorting and sampling (issue 15)
void DeviceBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in,
                         bool descending) {
  launch_sort(in.dtype(), {in.size(0), in.size(1), descending}, values.raw_data(),
              static_cast<int64_t*>(indices.raw_data()), in.raw_data());
}

void DeviceBackend::multinomial(const Tensor& out, const Tensor& probs, const Tensor& workspace,
                                bool replacement, uint64_t seed, uint64_t offset) {
  launch_multinomial(probs.dtype(),
                     {probs.size(0), probs.size(1), out.size(1), replacement, seed, offset},
                     static_cast<int64_t*>(out.raw_data()), probs.raw_data(),
                     static_cast<double*>(workspace.raw_data()));
}

}  // namespace ember::EMBER_VARIANT
