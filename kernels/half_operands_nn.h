// bf16/f16 entry points of pooling, bilinear resizing, the recurrent cells and GELU's
// backward (issue 16, halfnn2), built on kernels/half_operands.h as the norms are: the
// 16-bit operands are widened to f32, the backend's own f32 method runs, and each output
// is rounded once. So the window sums of avg pooling, the overlapping-window sums of the
// pooling backward, the bilinear weights and sums and the gate math all run in f32 (torch's
// opmath) with one rounding on store; a max (and its index) is exact in any dtype. The cpu
// backend runs these; kernels/cuda's pool, upsample, rnn_cell and gelu_backward kernels load
// the 16-bit values into f32 themselves and round once on the store, the same math.
#pragma once

#include "kernels/half_operands.h"

namespace ember::half_ops {

inline void pool2d_forward(Backend& be, const Tensor& out, const Tensor& indices, const Tensor& x,
                           const Pool2dParams& p) {
  HalfOperands h(be);
  be.pool2d_forward(h.out(out), indices, h.in(x), p);
  h.finish();
}
inline void pool2d_backward(Backend& be, const Tensor& grad_x, const Tensor& grad_out,
                            const Tensor& indices, const Pool2dParams& p) {
  HalfOperands h(be);
  be.pool2d_backward(h.out(grad_x), h.in(grad_out), indices, p);
  h.finish();
}

inline void upsample_bilinear_forward(Backend& be, const Tensor& out, const Tensor& x,
                                      const UpsampleBilinearParams& p) {
  HalfOperands h(be);
  be.upsample_bilinear_forward(h.out(out), h.in(x), p);
  h.finish();
}
inline void upsample_bilinear_backward(Backend& be, const Tensor& grad_x, const Tensor& grad_out,
                                       const UpsampleBilinearParams& p) {
  HalfOperands h(be);
  be.upsample_bilinear_backward(h.out(grad_x), h.in(grad_out), p);
  h.finish();
}

// The cell state c and the saved gates are in the inputs' dtype, as torch's fused cells
// keep them; the backward widens them again.
inline void lstm_cell_forward(Backend& be, const LstmCellForwardArgs& a) {
  HalfOperands h(be);
  be.lstm_cell_forward({.h = h.out(a.h),
                        .c = h.out(a.c),
                        .workspace = h.out(a.workspace),
                        .igates = h.in(a.igates),
                        .hgates = h.in(a.hgates),
                        .c_prev = h.in(a.c_prev)});
  h.finish();
}
inline void lstm_cell_backward(Backend& be, const LstmCellBackwardArgs& a) {
  HalfOperands h(be);
  be.lstm_cell_backward({.grad_gates = h.out(a.grad_gates),
                         .grad_c_prev = h.out(a.grad_c_prev),
                         .grad_h = h.in(a.grad_h),
                         .grad_c = h.in(a.grad_c),
                         .c_prev = h.in(a.c_prev),
                         .c = h.in(a.c),
                         .workspace = h.in(a.workspace)});
  h.finish();
}
inline void gru_cell_forward(Backend& be, const GruCellForwardArgs& a) {
  HalfOperands h(be);
  be.gru_cell_forward({.h = h.out(a.h),
                       .workspace = h.out(a.workspace),
                       .igates = h.in(a.igates),
                       .hgates = h.in(a.hgates),
                       .h_prev = h.in(a.h_prev)});
  h.finish();
}
inline void gru_cell_backward(Backend& be, const GruCellBackwardArgs& a) {
  HalfOperands h(be);
  be.gru_cell_backward({.grad_igates = h.out(a.grad_igates),
                        .grad_hgates = h.out(a.grad_hgates),
                        .grad_h_prev = h.out(a.grad_h_prev),
                        .grad_h = h.in(a.grad_h),
                        .h_prev = h.in(a.h_prev),
                        .workspace = h.in(a.workspace)});
  h.finish();
}

inline void gelu_backward(Backend& be, const Tensor& grad_x, const Tensor& grad_y, const Tensor& x,
                          bool tanh) {
  HalfOperands h(be);
  be.gelu_backward(h.out(grad_x), h.in(grad_y), h.in(x), tanh);
  h.finish();
}

}  // namespace ember::half_ops
