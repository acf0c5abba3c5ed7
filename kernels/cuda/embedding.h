// Launchers of kernels/cuda/embedding.cu: rows of a table looked up by index, and the
// deterministic gradient of the lookup.
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct EmbeddingShape {
  int64_t num_indices;  // M
  int64_t num_rows;     // V, the table's rows
  int64_t dim;          // D
  int64_t padding_idx;  // a row in [0, V) that gets no gradient, or -1
};

// out (M, D) = weight (V, D) rows at indices (M); IndexError naming embedding for an index
// outside [0, V).
void launch_embedding_forward(DType dtype, const EmbeddingShape& s, void* out, const void* weight,
                              const int64_t* indices);
// grad_weight (V, D): row v = sum of grad_out (M, D) rows m with indices[m] == v, in
// increasing m (bit-for-bit reproducible); the padding row is zero.
void launch_embedding_backward(DType dtype, const EmbeddingShape& s, void* grad_weight,
                               const void* grad_out, const int64_t* indices);

}  // namespace ember::EMBER_VARIANT
