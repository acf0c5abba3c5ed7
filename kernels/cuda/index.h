// The launchers of index.cu: index_select, gather and scatter_add. Index values are
// checked on the device; a bad one throws IndexError.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/geometry.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

// out (outer, n, inner) = in (outer, size, inner) at index (n) along the middle dim.
void launch_index_select(size_t element_size, void* out, const void* in, const int64_t* index,
                         int64_t outer, int64_t size, int64_t n, int64_t inner, int64_t dim);
// Over the index's shape: operand 0 is out, 1 the index, 2 `in` (gather) or `src`
// (scatter_add). The indexed operand's stride along `dim` is 0 in g and given apart.
void launch_gather(DType dtype, const Geometry<3>& g, void* out, const int64_t* index,
                   const void* in, int64_t dim, int64_t dim_size, int64_t dim_stride);
void launch_scatter_add(DType dtype, const Geometry<3>& g, void* out, const int64_t* index,
                        const void* src, int64_t dim, int64_t dim_size, int64_t dim_stride);
// scatter_add without atomics, in index order (use_deterministic_algorithms);
// geometry_dim: the dim of g that `dim` became, or -1 when the chunk holds one position of it.
void launch_scatter_add_ordered(DType dtype, const Geometry<3>& g, int geometry_dim, void* out,
                                const int64_t* index, const void* src, int64_t dim_size,
                                int64_t dim_stride);

}  // namespace ember::EMBER_VARIANT
