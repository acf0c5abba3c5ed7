// Launchers of kernels/cuda/rnn_cell.cu: the fused LSTM and GRU cells (issue 15).
#pragma once

#include <cstdint>

#include "kernels/cuda/variant.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

// igates, hgates (b, 4h), c_prev (b, h) -> h_out, c (b, h), ws (b, 4h) = i, f, g, o.
void launch_lstm_cell_forward(DType dtype, int64_t b, int64_t h, void* h_out, void* c, void* ws,
                              const void* igates, const void* hgates, const void* c_prev);
// grad_h, grad_c (b, h) or null (zero) -> grad_gates (b, 4h), grad_c_prev (b, h).
void launch_lstm_cell_backward(DType dtype, int64_t b, int64_t h, void* grad_gates,
                               void* grad_c_prev, const void* grad_h, const void* grad_c,
                               const void* c_prev, const void* c, const void* ws);
// igates, hgates (b, 3h), h_prev (b, h) -> h_out (b, h), ws (b, 4h) = r, z, n, h_n.
void launch_gru_cell_forward(DType dtype, int64_t b, int64_t h, void* h_out, void* ws,
                             const void* igates, const void* hgates, const void* h_prev);
// grad_h, h_prev (b, h), ws -> grad_igates, grad_hgates (b, 3h), grad_h_prev (b, h).
void launch_gru_cell_backward(DType dtype, int64_t b, int64_t h, void* grad_igates,
                              void* grad_hgates, void* grad_h_prev, const void* grad_h,
                              const void* h_prev, const void* ws);

}  // namespace ember::EMBER_VARIANT
