// DeviceBackend's fused nn primitives (kernels/cuda/device_backend.h): softmax, attention,
// cross entropy, the norms (layer, RMS, batch, group), GELU's backward, pooling, bilinear
// resizing, the recurrent cells and embedding, each a call of its kernel file's launcher.
// bf16/f16 operands: the norms and cross entropy run their f32 kernels through
// kernels/half_operands.h, attention widens the head dims its 16-bit kernels lack, the others
// load 16-bit values into f32 inside their kernels.
#include "kernels/cuda/device_backend.h"

#include "kernels/cuda/attention.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/cross_entropy.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/gelu_backward.h"
#include "kernels/cuda/group_norm.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/pool.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rnn_cell.h"
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/upsample.h"
#include "kernels/half_operands.h"
#include "tensor/philox.h"
#include "tensor/raw.h"

namespace ember::EMBER_VARIANT {

namespace {

// The attention kernels' arguments: sizes, mask strides (the mask is (B, H, Tq, Tk) with
// unit stride along keys, as the contract gives it), scale, causal and dropout.
AttentionArgs attention_args(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                             const AttentionParams& p) {
  AttentionArgs a{};
  a.B = q.size(0), a.H = q.size(1), a.Tq = q.size(2), a.Tk = k.size(2);
  a.D = static_cast<int>(q.size(3)), a.Dv = static_cast<int>(v.size(3));
  if (mask.defined()) {
    EMBER_CHECK(mask.dim() == 4 && (mask.stride(3) == 1 || a.Tk == 1), "attention mask ",
                str(mask.sizes()), " strides ", str(mask.strides()));
    a.ms0 = mask.stride(0), a.ms1 = mask.stride(1), a.ms2 = mask.stride(2);
  }
  a.scale = p.scale;
  a.causal = p.causal;
  a.dropout = p.dropout_p > 0.0;
  a.seed = p.seed, a.offset = p.offset;
  a.threshold = philox::dropout_threshold(p.dropout_p);
  a.keep_scale = p.dropout_p < 1.0 ? 1.0 / (1.0 - p.dropout_p) : 0.0;
  return a;
}

CrossEntropyShape ce_shape(const Tensor& logits, const CrossEntropyParams& p) {
  return {logits.size(0), logits.size(1), p.ignore_index, p.label_smoothing};
}

void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// x (B, H, W) planes and out (B, P, Q).
PoolShape pool_shape(const Tensor& x, const Tensor& out, const Pool2dParams& p) {
  return {x.size(0),
          {x.size(1), out.size(1), p.kernel_h, p.stride_h, p.pad_h, p.dilation_h},
          {x.size(2), out.size(2), p.kernel_w, p.stride_w, p.pad_w, p.dilation_w},
          p.adaptive,
          p.mode == PoolMode::max,
          p.count_include_pad,
          p.divisor_override};
}

BatchNormShape bn_shape(const Tensor& x, const BatchNormParams& p) {
  return {x.size(0), x.size(1), x.size(2), p.training, p.momentum, p.eps};
}

GroupNormShape gn_shape(const Tensor& x, const GroupNormParams& p) {
  return {x.size(0), x.size(1), x.size(2), p.groups, p.eps};
}

// x (B, H, W) and out (B, P, Q) of a bilinear resize.
UpsampleShape upsample_shape(const Tensor& x, const Tensor& out, const UpsampleBilinearParams& p) {
  return {x.size(0),   x.size(1), x.size(2), out.size(1),
          out.size(2), p.scale_h, p.scale_w, p.align_corners};
}

// bf16/f16 head dims without a 16-bit kernel (issue 16): f32 copies of the operands, the f32
// kernels, the outputs rounded once (lse is f32 already).
Tensor widened(Backend& be, const Tensor& t) {
  if (!t.defined()) return t;
  Tensor w = raw::empty(t.sizes(), DType::f32, t.device());
  be.copy(w, t);
  return w;
}

bool widen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                     const AttentionParams& p) {
  return is_half(q.dtype()) && !attention_half_fast_path(attention_args(q, k, v, mask, p));
}

}  // namespace

void DeviceBackend::softmax(const Tensor& out, const Tensor& in, bool log) {
  launch_softmax(in.dtype(), out.raw_data(), in.raw_data(), in.size(0), in.size(1), log);
}

void DeviceBackend::attention_forward(const AttentionForwardArgs& a, const AttentionParams& p) {
  if (widen_attention(a.q, a.k, a.v, a.mask, p)) {
    const Tensor out = raw::empty(a.out.sizes(), DType::f32, a.out.device());
    attention_forward({.out = out,
                       .lse = a.lse,
                       .q = widened(*this, a.q),
                       .k = widened(*this, a.k),
                       .v = widened(*this, a.v),
                       .mask = widened(*this, a.mask)},
                      p);
    return copy(a.out, out);
  }
  const void* mask = a.mask.defined() ? a.mask.raw_data() : nullptr;
  launch_attention_forward(a.q.dtype(), attention_args(a.q, a.k, a.v, a.mask, p), a.out.raw_data(),
                           a.lse.raw_data(), a.q.raw_data(), a.k.raw_data(), a.v.raw_data(), mask);
}

void DeviceBackend::attention_backward(const AttentionBackwardArgs& a, const AttentionParams& p) {
  if (widen_attention(a.q, a.k, a.v, a.mask, p)) {
    auto f32 = [](const Tensor& t) { return raw::empty(t.sizes(), DType::f32, t.device()); };
    const Tensor gq = f32(a.grad_q), gk = f32(a.grad_k), gv = f32(a.grad_v);
    attention_backward({.grad_q = gq,
                        .grad_k = gk,
                        .grad_v = gv,
                        .grad_out = widened(*this, a.grad_out),
                        .q = widened(*this, a.q),
                        .k = widened(*this, a.k),
                        .v = widened(*this, a.v),
                        .out = widened(*this, a.out),
                        .lse = a.lse,
                        .mask = widened(*this, a.mask)},
                       p);
    copy(a.grad_q, gq);
    copy(a.grad_k, gk);
    return copy(a.grad_v, gv);
  }
  const void* mask = a.mask.defined() ? a.mask.raw_data() : nullptr;
  launch_attention_backward(a.q.dtype(), attention_args(a.q, a.k, a.v, a.mask, p),
                            a.grad_q.raw_data(), a.grad_k.raw_data(), a.grad_v.raw_data(),
                            a.grad_out.raw_data(), a.q.raw_data(), a.k.raw_data(), a.v.raw_data(),
                            a.out.raw_data(), a.lse.raw_data(), mask);
}

void DeviceBackend::cross_entropy_forward(const CrossEntropyForwardArgs& a,
                                          const CrossEntropyParams& p) {
  if (is_half(a.logits.dtype())) return half_ops::cross_entropy_forward(*this, a, p);  // issue 16
  launch_cross_entropy_forward(a.logits.dtype(), ce_shape(a.logits, p), a.loss.raw_data(),
                               a.lse.raw_data(), a.logits.raw_data(),
                               static_cast<const int64_t*>(a.target.raw_data()),
                               a.weight.defined() ? a.weight.raw_data() : nullptr);
}

void DeviceBackend::cross_entropy_backward(const CrossEntropyBackwardArgs& a,
                                           const CrossEntropyParams& p) {
  if (is_half(a.logits.dtype())) return half_ops::cross_entropy_backward(*this, a, p);  // issue 16
  launch_cross_entropy_backward(a.logits.dtype(), ce_shape(a.logits, p), a.grad_logits.raw_data(),
                                a.grad_loss.raw_data(), a.logits.raw_data(), a.lse.raw_data(),
                                static_cast<const int64_t*>(a.target.raw_data()),
                                a.weight.defined() ? a.weight.raw_data() : nullptr);
}

void DeviceBackend::layer_norm_forward(const LayerNormForwardArgs& a, const LayerNormParams& p) {
  if (is_half(a.x.dtype())) return half_ops::layer_norm_forward(*this, a, p);  // issue 16
  launch_layer_norm_forward(a.x.dtype(), {a.x.size(0), a.x.size(1), p.eps}, a.y.raw_data(),
                            a.mean.raw_data(), a.rstd.raw_data(), a.x.raw_data(),
                            data_or_null(a.weight), data_or_null(a.bias));
}

void DeviceBackend::layer_norm_backward(const LayerNormBackwardArgs& a, const LayerNormParams& p) {
  if (is_half(a.x.dtype())) return half_ops::layer_norm_backward(*this, a, p);  // issue 16
  launch_layer_norm_backward(a.x.dtype(), {a.x.size(0), a.x.size(1), p.eps}, a.grad_x.raw_data(),
                             data_or_null(a.grad_weight), data_or_null(a.grad_bias),
                             a.grad_y.raw_data(), a.x.raw_data(), a.mean.raw_data(),
                             a.rstd.raw_data(), data_or_null(a.weight));
}

// RMS norm (issue 15).
void DeviceBackend::rms_norm_forward(const RmsNormForwardArgs& a, const RmsNormParams& p) {
  if (is_half(a.x.dtype())) return half_ops::rms_norm_forward(*this, a, p);  // issue 16
  launch_rms_norm_forward(a.x.dtype(), {a.x.size(0), a.x.size(1), p.eps}, a.y.raw_data(),
                          a.rstd.raw_data(), a.x.raw_data(), data_or_null(a.weight));
}

void DeviceBackend::rms_norm_backward(const RmsNormBackwardArgs& a, const RmsNormParams& p) {
  if (is_half(a.x.dtype())) return half_ops::rms_norm_backward(*this, a, p);  // issue 16
  launch_rms_norm_backward(a.x.dtype(), {a.x.size(0), a.x.size(1), p.eps}, a.grad_x.raw_data(),
                           data_or_null(a.grad_weight), a.grad_y.raw_data(), a.x.raw_data(),
                           a.rstd.raw_data(), data_or_null(a.weight));
}

// GELU's fused backward (issue 15, perf).
void DeviceBackend::gelu_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x,
                                  bool tanh) {
  launch_gelu_backward(x.dtype(), x.numel(), tanh, grad_x.raw_data(), grad_y.raw_data(),
                       x.raw_data());
}

void DeviceBackend::pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x,
                                   const Pool2dParams& p) {
  launch_pool2d_forward(x.dtype(), pool_shape(x, out, p), out.raw_data(),
                        static_cast<int64_t*>(data_or_null(indices)), x.raw_data());
}

void DeviceBackend::pool2d_backward(const Tensor& grad_x, const Tensor& grad_out,
                                    const Tensor& indices, const Pool2dParams& p) {
  launch_pool2d_backward(grad_x.dtype(), pool_shape(grad_x, grad_out, p), grad_x.raw_data(),
                         grad_out.raw_data(), static_cast<const int64_t*>(data_or_null(indices)));
}

void DeviceBackend::batch_norm_forward(const BatchNormForwardArgs& a, const BatchNormParams& p) {
  if (is_half(a.x.dtype())) return half_ops::batch_norm_forward(*this, a, p);  // issue 16
  launch_batch_norm_forward(
      a.x.dtype(), bn_shape(a.x, p),
      {.y = a.y.raw_data(),
       .mean = a.mean.raw_data(),
       .invstd = a.invstd.raw_data(),
       .x = a.x.raw_data(),
       .weight = data_or_null(a.weight),
       .bias = data_or_null(a.bias),
       .running_mean = data_or_null(a.running_mean),
       .running_var = data_or_null(a.running_var),
       .num_batches_tracked = static_cast<const int64_t*>(data_or_null(a.num_batches_tracked))});
}

void DeviceBackend::batch_norm_backward(const BatchNormBackwardArgs& a, const BatchNormParams& p) {
  if (is_half(a.x.dtype())) return half_ops::batch_norm_backward(*this, a, p);  // issue 16
  launch_batch_norm_backward(a.x.dtype(), bn_shape(a.x, p),
                             {.dx = data_or_null(a.grad_x),
                              .dweight = data_or_null(a.grad_weight),
                              .dbias = data_or_null(a.grad_bias),
                              .dy = a.grad_y.raw_data(),
                              .x = a.x.raw_data(),
                              .mean = a.mean.raw_data(),
                              .invstd = a.invstd.raw_data(),
                              .weight = data_or_null(a.weight)});
}

void DeviceBackend::group_norm_forward(const GroupNormForwardArgs& a, const GroupNormParams& p) {
  if (is_half(a.x.dtype())) return half_ops::group_norm_forward(*this, a, p);  // issue 16
  launch_group_norm_forward(a.x.dtype(), gn_shape(a.x, p), a.y.raw_data(), a.mean.raw_data(),
                            a.rstd.raw_data(), a.x.raw_data(), data_or_null(a.weight),
                            data_or_null(a.bias));
}

void DeviceBackend::group_norm_backward(const GroupNormBackwardArgs& a, const GroupNormParams& p) {
  if (is_half(a.x.dtype())) return half_ops::group_norm_backward(*this, a, p);  // issue 16
  launch_group_norm_backward(a.x.dtype(), gn_shape(a.x, p),
                             {.dx = data_or_null(a.grad_x),
                              .dweight = data_or_null(a.grad_weight),
                              .dbias = data_or_null(a.grad_bias),
                              .dy = a.grad_y.raw_data(),
                              .x = a.x.raw_data(),
                              .mean = a.mean.raw_data(),
                              .rstd = a.rstd.raw_data(),
                              .weight = data_or_null(a.weight)});
}

// The fused recurrent cells (issue 15, rnn).
void DeviceBackend::lstm_cell_forward(const LstmCellForwardArgs& a) {
  launch_lstm_cell_forward(a.c_prev.dtype(), a.c_prev.size(0), a.c_prev.size(1), a.h.raw_data(),
                           a.c.raw_data(), a.workspace.raw_data(), a.igates.raw_data(),
                           a.hgates.raw_data(), a.c_prev.raw_data());
}

void DeviceBackend::lstm_cell_backward(const LstmCellBackwardArgs& a) {
  launch_lstm_cell_backward(a.c_prev.dtype(), a.c_prev.size(0), a.c_prev.size(1),
                            a.grad_gates.raw_data(), a.grad_c_prev.raw_data(),
                            data_or_null(a.grad_h), data_or_null(a.grad_c), a.c_prev.raw_data(),
                            a.c.raw_data(), a.workspace.raw_data());
}

void DeviceBackend::gru_cell_forward(const GruCellForwardArgs& a) {
  launch_gru_cell_forward(a.h_prev.dtype(), a.h_prev.size(0), a.h_prev.size(1), a.h.raw_data(),
                          a.workspace.raw_data(), a.igates.raw_data(), a.hgates.raw_data(),
                          a.h_prev.raw_data());
}

void DeviceBackend::gru_cell_backward(const GruCellBackwardArgs& a) {
  launch_gru_cell_backward(a.h_prev.dtype(), a.h_prev.size(0), a.h_prev.size(1),
                           a.grad_igates.raw_data(), a.grad_hgates.raw_data(),
                           a.grad_h_prev.raw_data(), a.grad_h.raw_data(), a.h_prev.raw_data(),
                           a.workspace.raw_data());
}

void DeviceBackend::embedding_forward(const Tensor& out, const Tensor& weight,
                                      const Tensor& indices) {
  launch_embedding_forward(weight.dtype(), {indices.numel(), weight.size(0), weight.size(1), -1},
                           out.raw_data(), weight.raw_data(),
                           static_cast<const int64_t*>(indices.raw_data()));
}

void DeviceBackend::embedding_backward(const Tensor& grad_weight, const Tensor& grad_out,
                                       const Tensor& indices, int64_t padding_idx) {
  launch_embedding_backward(
      grad_weight.dtype(), {indices.numel(), grad_weight.size(0), grad_weight.size(1), padding_idx},
      grad_weight.raw_data(), grad_out.raw_data(), static_cast<const int64_t*>(indices.raw_data()));
}

void DeviceBackend::upsample_bilinear_forward(const Tensor& out, const Tensor& x,
                                              const UpsampleBilinearParams& p) {
  launch_upsample_bilinear_forward(x.dtype(), upsample_shape(x, out, p), out.raw_data(),
                                   x.raw_data());
}

void DeviceBackend::upsample_bilinear_backward(const Tensor& grad_x, const Tensor& grad_out,
                                               const UpsampleBilinearParams& p) {
  launch_upsample_bilinear_backward(grad_x.dtype(), upsample_shape(grad_x, grad_out, p),
                                    grad_x.raw_data(), grad_out.raw_data());
}

}  // namespace ember::EMBER_VARIANT
