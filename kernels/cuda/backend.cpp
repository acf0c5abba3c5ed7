// DeviceBackend: the Backend contract (tensor/backend.h) for `sim` and `cuda`. Methods
// unpack tensors into pointers, strides and sizes and call the launchers (each kernel
// file's header, kernels/cuda/<op>.h); no device code here, so the host compiler builds
// this file for both devices (kernels/CMakeLists.txt compiles it a second time with
// EMBER_VARIANT_CUDA=1).
#include "kernels/cuda/backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cuda/amp.h"  // GradScaler (issue 16, scaler)
#include "kernels/cuda/attention.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/cross_entropy.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/gelu_backward.h"  // issue 15, perf
#include "kernels/cuda/group_norm.h"
#include "kernels/cuda/index.h"
#include "kernels/cuda/index_error.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/multinomial.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/plan.h"
#include "kernels/cuda/pool.h"
#include "kernels/cuda/random.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rnn_cell.h"  // issue 15, rnn
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/scan.h"
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/sort.h"
#include "kernels/cuda/upsample.h"
#include "kernels/half_operands.h"
#include "tensor/backends.h"
#include "tensor/determinism.h"
#include "tensor/optim_coeffs.h"
#include "tensor/philox.h"
#include "tensor/raw.h"
#include "tensor/tensor.h"

#if EMBER_VARIANT_IS_CUDA
#include "kernels/cuda/cublas.h"
#include "kernels/cuda/cudnn_conv.h"
#endif

namespace ember::EMBER_VARIANT {

namespace {

// The shape of a convolution from its three operands (x or grad_x, w or grad_w, out or grad_out).
Conv2dShape conv_shape(const Tensor& x, const Tensor& w, const Tensor& out, const Conv2dParams& p) {
  return {x.size(0), x.size(1), x.size(2),   x.size(3),   w.size(0),
          w.size(2), w.size(3), out.size(2), out.size(3), p};
}

// TF32 for this dtype on this device.
// bf16/f16 take the tensor cores whatever allow_tf32 says (issue 16): their values are
// exact in TF32, so nothing is rounded that the dtype had not rounded already.
bool conv_uses_tf32(DType dtype) {
  return EMBER_VARIANT_IS_CUDA &&
         (is_half(dtype) || (dtype == DType::f32 && backends::cudnn::allow_tf32)) &&
         rt::props().major >= 8;
}

#if EMBER_VARIANT_IS_CUDA
// cuDNN serves this convolution. f64, which gradcheck and references use, always runs
// ember's kernels: cuDNN's double-precision support is narrow (few algorithms, no tensor
// cores) and not what it is chosen for. Named explicitly, cuDNN has no quiet fallback: it
// fails where it cannot be loaded.
bool conv_uses_cudnn(DType dtype) {
  const backends::ConvImpl impl = backends::cuda::conv;
  return (dtype == DType::f32 || is_half(dtype)) &&  // halves: f32 compute (issue 16)
         (impl == backends::ConvImpl::cudnn ||
          (impl == backends::ConvImpl::automatic && cudnn_conv_available()));
}
#endif

// How one (rows, cols) matrix of a batched operand sits in memory, for cuBLAS.
struct MatrixLayout {
  bool row_major;  // unit stride along cols (else along rows)
  int64_t ld;      // stride between rows (row-major) or columns (column-major)
};

bool layout_of(const Tensor& t, MatrixLayout* out) {
  const int64_t rows = t.size(1), cols = t.size(2), rs = t.stride(1), cs = t.stride(2);
  if (cs == 1 || cols == 1) {
    *out = {true, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
    return out->ld >= cols && out->ld > 0;
  }
  if (rs == 1 || rows == 1) {
    *out = {false, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
    return out->ld >= rows && out->ld > 0;
  }
  return false;
}

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

class DeviceBackend final : public Backend {
 public:
  DeviceType device_type() const override {
    return EMBER_VARIANT_IS_CUDA ? DeviceType::cuda : DeviceType::sim;
  }
  bool available() const override { return rt::available(); }
  // Every primitive of the contract has kernels here; the fused nn ones for f32 and f64.
  bool supports(Primitive op, DType dtype) const override {
    // bf16/f16 (issue 16): the norms and cross entropy through f32 (kernels/half_operands.h),
    // embedding in its own kernels.
    if (op == Primitive::cross_entropy || op == Primitive::layer_norm ||
        op == Primitive::embedding || op == Primitive::batch_norm || op == Primitive::group_norm ||
        op == Primitive::rms_norm)
      return is_floating(dtype);
    if (op == Primitive::pool2d || op == Primitive::upsample_bilinear)
      return is_floating(dtype);  // bf16/f16: f32 math in the kernels (issue 16, halfnn2)
    if (op == Primitive::scan) return dtype != DType::b8;
    if (op == Primitive::lstm_cell || op == Primitive::gru_cell)  // issue 15, rnn
      return is_floating(dtype);  // bf16/f16: f32 math in the kernels (issue 16, halfnn2)
    if (op == Primitive::sort) return dtype != DType::b8;  // sorting and sampling (issue 15)
    // multinomial: bf16/f16 weights too (issue 16, halfcases)
    if (op == Primitive::multinomial) return is_floating(dtype);
    if (op == Primitive::gelu_backward)  // issue 15, perf
      return is_floating(dtype);         // bf16/f16: kernels/half_operands_nn.h (issue 16, halfnn2)
    return true;
  }

  void* allocate(size_t nbytes) override { return rt::allocate(nbytes); }
  void deallocate(void* ptr, size_t) noexcept override { rt::deallocate(ptr); }
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override {
    rt::memcpy_h2d(dst, host_src, nbytes);
  }
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override {
    rt::memcpy_d2h(host_dst, src, nbytes);
  }
  void synchronize() override { rt::synchronize(); }
  // Several devices (issue 17): the runtime keeps one state per ordinal.
  int device_count() const override { return rt::device_count(); }
  int current_device() const override { return rt::current_device(); }
  void set_device(int index) override { rt::set_device(index); }
  void copy_peer(void* dst, int dst_index, const void* src, int src_index, size_t nbytes) override {
    rt::memcpy_peer(dst, dst_index, src, src_index, nbytes);
  }

  void copy(const Tensor& out, const Tensor& in) override {
    auto p = plan<2>({&out, &in});
    if (out.dtype() == in.dtype() && p.contiguous()) {
      rt::memcpy_d2d(p.base[0], p.base[1], static_cast<size_t>(p.numel) * out.element_size());
      return;
    }
    for_each_chunk(p, [&](const Geometry<2>& g, bool contiguous, const std::array<char*, 2>& ptr) {
      launch_copy(out.dtype(), in.dtype(), g, contiguous, ptr[0], ptr[1]);
    });
  }

  void fill(const Tensor& out, const Scalar& value) override {
    for_each_chunk(plan<1>({&out}),
                   [&](const Geometry<1>& g, bool contiguous, const std::array<char*, 1>& ptr) {
                     launch_fill(out.dtype(), g, contiguous, ptr[0], value);
                   });
  }

  void unary(UnaryOp op, const Tensor& out, const Tensor& in, double arg, double arg2) override {
    for_each_chunk(plan<2>({&out, &in}),
                   [&](const Geometry<2>& g, bool contiguous, const std::array<char*, 2>& ptr) {
                     launch_unary(op, in.dtype(), g, contiguous, ptr[0], ptr[1], arg, arg2);
                   });
  }

  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override {
    for_each_chunk(plan<3>({&out, &a, &b}),
                   [&](const Geometry<3>& g, bool contiguous, const std::array<char*, 3>& ptr) {
                     launch_binary(op, a.dtype(), g, contiguous, ptr[0], ptr[1], ptr[2]);
                   });
  }

  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override {
    for_each_chunk(plan<4>({&out, &cond, &a, &b}),
                   [&](const Geometry<4>& g, bool contiguous, const std::array<char*, 4>& ptr) {
                     launch_where(out.dtype(), g, contiguous, ptr[0], ptr[1], ptr[2], ptr[3]);
                   });
  }

  void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
              int64_t correction) override {
    // The kernel reads rows: a columns-contiguous `in` (a sum over leading dims, issue 19)
    // is copied into that layout first.
    if (!in.is_contiguous()) {
      Tensor rows = raw::empty(in.sizes(), in.dtype(), in.device());
      copy(rows, in);
      return reduce(op, out, indices, rows, correction);
    }
    auto* idx = indices.defined() ? static_cast<int64_t*>(indices.raw_data()) : nullptr;
    launch_reduce(op, in.dtype(), out.raw_data(), idx, in.raw_data(), in.size(0), in.size(1),
                  correction);
  }

  void matmul(const Tensor& out, const Tensor& a_in, const Tensor& b_in) override {
    Tensor a = a_in, b = b_in;
    // sim has no cuBLAS: it always runs the tiled kernel.
    const bool cublas =
        EMBER_VARIANT_IS_CUDA && backends::cuda::matmul == backends::GemmImpl::cublas;
    MatrixLayout la{}, lb{};
    if (cublas) {  // cuBLAS needs unit stride along rows or columns
      if (!layout_of(a, &la)) layout_of(a = raw::contiguous(a), &la);
      if (!layout_of(b, &lb)) layout_of(b = raw::contiguous(b), &lb);
    }
    const GemmShape s{out.size(0), out.size(1), out.size(2), a.size(2),   a.stride(0),
                      a.stride(1), a.stride(2), b.stride(0), b.stride(1), b.stride(2)};
#if EMBER_VARIANT_IS_CUDA
    if (cublas) {
      cublas_gemm(out.dtype(), s, la.row_major, la.ld, lb.row_major, lb.ld, out.raw_data(),
                  a.raw_data(), b.raw_data());
      return;
    }
#endif
    launch_gemm_tiled(out.dtype(), s, out.raw_data(), a.raw_data(), b.raw_data());
  }

  void conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                      const Conv2dParams& p) override {
    const Conv2dShape s = conv_shape(x, w, out, p);
    const bool tf32 = conv_uses_tf32(x.dtype());
    const void* b = bias.defined() ? bias.raw_data() : nullptr;
#if EMBER_VARIANT_IS_CUDA
    if (conv_uses_cudnn(x.dtype()))
      return cudnn_conv2d_forward(x.dtype(), s, tf32, out.raw_data(), x.raw_data(), w.raw_data(),
                                  b);
#endif
    launch_conv2d_forward(x.dtype(), s, tf32, out.raw_data(), x.raw_data(), w.raw_data(), b);
  }

  void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                             const Conv2dParams& p) override {
    const Conv2dShape s = conv_shape(grad_x, w, grad_out, p);
    const bool tf32 = conv_uses_tf32(w.dtype());
#if EMBER_VARIANT_IS_CUDA
    if (conv_uses_cudnn(w.dtype()))
      return cudnn_conv2d_backward_input(w.dtype(), s, tf32, grad_x.raw_data(), grad_out.raw_data(),
                                         w.raw_data());
#endif
    launch_conv2d_backward_input(w.dtype(), s, tf32, grad_x.raw_data(), grad_out.raw_data(),
                                 w.raw_data());
  }

  void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                              const Conv2dParams& p) override {
    const Conv2dShape s = conv_shape(x, grad_w, grad_out, p);
    const bool tf32 = conv_uses_tf32(x.dtype());
#if EMBER_VARIANT_IS_CUDA
    if (conv_uses_cudnn(x.dtype()))
      return cudnn_conv2d_backward_weight(x.dtype(), s, tf32, grad_w.raw_data(),
                                          grad_out.raw_data(), x.raw_data());
#endif
    launch_conv2d_backward_weight(x.dtype(), s, tf32, grad_w.raw_data(), grad_out.raw_data(),
                                  x.raw_data());
  }

  void softmax(const Tensor& out, const Tensor& in, bool log) override {
    launch_softmax(in.dtype(), out.raw_data(), in.raw_data(), in.size(0), in.size(1), log);
  }

  // bf16/f16 head dims without a 16-bit kernel (issue 16): f32 copies of the operands, the f32
  // kernels, the outputs rounded once (lse is f32 already).
  Tensor widened(const Tensor& t) {
    if (!t.defined()) return t;
    Tensor w = raw::empty(t.sizes(), DType::f32, t.device());
    copy(w, t);
    return w;
  }
  bool widen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                       const AttentionParams& p) {
    return is_half(q.dtype()) && !attention_half_fast_path(attention_args(q, k, v, mask, p));
  }

  void attention_forward(const AttentionForwardArgs& a, const AttentionParams& p) override {
    if (widen_attention(a.q, a.k, a.v, a.mask, p)) {
      const Tensor out = raw::empty(a.out.sizes(), DType::f32, a.out.device());
      attention_forward({.out = out,
                         .lse = a.lse,
                         .q = widened(a.q),
                         .k = widened(a.k),
                         .v = widened(a.v),
                         .mask = widened(a.mask)},
                        p);
      return copy(a.out, out);
    }
    const void* mask = a.mask.defined() ? a.mask.raw_data() : nullptr;
    launch_attention_forward(a.q.dtype(), attention_args(a.q, a.k, a.v, a.mask, p),
                             a.out.raw_data(), a.lse.raw_data(), a.q.raw_data(), a.k.raw_data(),
                             a.v.raw_data(), mask);
  }

  void attention_backward(const AttentionBackwardArgs& a, const AttentionParams& p) override {
    if (widen_attention(a.q, a.k, a.v, a.mask, p)) {
      auto f32 = [](const Tensor& t) { return raw::empty(t.sizes(), DType::f32, t.device()); };
      const Tensor gq = f32(a.grad_q), gk = f32(a.grad_k), gv = f32(a.grad_v);
      attention_backward({.grad_q = gq,
                          .grad_k = gk,
                          .grad_v = gv,
                          .grad_out = widened(a.grad_out),
                          .q = widened(a.q),
                          .k = widened(a.k),
                          .v = widened(a.v),
                          .out = widened(a.out),
                          .lse = a.lse,
                          .mask = widened(a.mask)},
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

  void cross_entropy_forward(const CrossEntropyForwardArgs& a,
                             const CrossEntropyParams& p) override {
    if (is_half(a.logits.dtype())) return half_ops::cross_entropy_forward(*this, a, p);  // issue 16
    launch_cross_entropy_forward(a.logits.dtype(), ce_shape(a.logits, p), a.loss.raw_data(),
                                 a.lse.raw_data(), a.logits.raw_data(),
                                 static_cast<const int64_t*>(a.target.raw_data()),
                                 a.weight.defined() ? a.weight.raw_data() : nullptr);
  }

  void cross_entropy_backward(const CrossEntropyBackwardArgs& a,
                              const CrossEntropyParams& p) override {
    if (is_half(a.logits.dtype()))
      return half_ops::cross_entropy_backward(*this, a, p);  // issue 16
    launch_cross_entropy_backward(a.logits.dtype(), ce_shape(a.logits, p), a.grad_logits.raw_data(),
                                  a.grad_loss.raw_data(), a.logits.raw_data(), a.lse.raw_data(),
                                  static_cast<const int64_t*>(a.target.raw_data()),
                                  a.weight.defined() ? a.weight.raw_data() : nullptr);
  }

  void layer_norm_forward(const LayerNormForwardArgs& a, const LayerNormParams& p) override {
    if (is_half(a.x.dtype())) return half_ops::layer_norm_forward(*this, a, p);  // issue 16
    launch_layer_norm_forward(a.x.dtype(), {a.x.size(0), a.x.size(1), p.eps}, a.y.raw_data(),
                              a.mean.raw_data(), a.rstd.raw_data(), a.x.raw_data(),
                              data_or_null(a.weight), data_or_null(a.bias));
  }

  void layer_norm_backward(const LayerNormBackwardArgs& a, const LayerNormParams& p) override {
    if (is_half(a.x.dtype())) return half_ops::layer_norm_backward(*this, a, p);  // issue 16
    launch_layer_norm_backward(a.x.dtype(), {a.x.size(0), a.x.size(1), p.eps}, a.grad_x.raw_data(),
                               data_or_null(a.grad_weight), data_or_null(a.grad_bias),
                               a.grad_y.raw_data(), a.x.raw_data(), a.mean.raw_data(),
                               a.rstd.raw_data(), data_or_null(a.weight));
  }

  // RMS norm (issue 15).
  void rms_norm_forward(const RmsNormForwardArgs& a, const RmsNormParams& p) override {
    if (is_half(a.x.dtype())) return half_ops::rms_norm_forward(*this, a, p);  // issue 16
    launch_rms_norm_forward(a.x.dtype(), {a.x.size(0), a.x.size(1), p.eps}, a.y.raw_data(),
                            a.rstd.raw_data(), a.x.raw_data(), data_or_null(a.weight));
  }
  void rms_norm_backward(const RmsNormBackwardArgs& a, const RmsNormParams& p) override {
    if (is_half(a.x.dtype())) return half_ops::rms_norm_backward(*this, a, p);  // issue 16
    launch_rms_norm_backward(a.x.dtype(), {a.x.size(0), a.x.size(1), p.eps}, a.grad_x.raw_data(),
                             data_or_null(a.grad_weight), a.grad_y.raw_data(), a.x.raw_data(),
                             a.rstd.raw_data(), data_or_null(a.weight));
  }

  // GELU's fused backward (issue 15, perf).
  void gelu_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x,
                     bool tanh) override {
    launch_gelu_backward(x.dtype(), x.numel(), tanh, grad_x.raw_data(), grad_y.raw_data(),
                         x.raw_data());
  }

  void scan(ScanOp op, const Tensor& out, const Tensor& in, bool reverse) override {
    launch_scan(in.dtype(), {in.size(0), in.size(1), in.size(2), op == ScanOp::prod, reverse},
                out.raw_data(), in.raw_data());
  }

  // sorting and sampling (issue 15)
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in,
            bool descending) override {
    launch_sort(in.dtype(), {in.size(0), in.size(1), descending}, values.raw_data(),
                static_cast<int64_t*>(indices.raw_data()), in.raw_data());
  }
  void multinomial(const Tensor& out, const Tensor& probs, const Tensor& workspace,
                   bool replacement, uint64_t seed, uint64_t offset) override {
    launch_multinomial(probs.dtype(),
                       {probs.size(0), probs.size(1), out.size(1), replacement, seed, offset},
                       static_cast<int64_t*>(out.raw_data()), probs.raw_data(),
                       static_cast<double*>(workspace.raw_data()));
  }

  void pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x,
                      const Pool2dParams& p) override {
    launch_pool2d_forward(x.dtype(), pool_shape(x, out, p), out.raw_data(),
                          static_cast<int64_t*>(data_or_null(indices)), x.raw_data());
  }

  void pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices,
                       const Pool2dParams& p) override {
    launch_pool2d_backward(grad_x.dtype(), pool_shape(grad_x, grad_out, p), grad_x.raw_data(),
                           grad_out.raw_data(), static_cast<const int64_t*>(data_or_null(indices)));
  }

  void batch_norm_forward(const BatchNormForwardArgs& a, const BatchNormParams& p) override {
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

  void batch_norm_backward(const BatchNormBackwardArgs& a, const BatchNormParams& p) override {
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

  // The fused recurrent cells (issue 15, rnn).
  void lstm_cell_forward(const LstmCellForwardArgs& a) override {
    launch_lstm_cell_forward(a.c_prev.dtype(), a.c_prev.size(0), a.c_prev.size(1), a.h.raw_data(),
                             a.c.raw_data(), a.workspace.raw_data(), a.igates.raw_data(),
                             a.hgates.raw_data(), a.c_prev.raw_data());
  }
  void lstm_cell_backward(const LstmCellBackwardArgs& a) override {
    launch_lstm_cell_backward(a.c_prev.dtype(), a.c_prev.size(0), a.c_prev.size(1),
                              a.grad_gates.raw_data(), a.grad_c_prev.raw_data(),
                              data_or_null(a.grad_h), data_or_null(a.grad_c), a.c_prev.raw_data(),
                              a.c.raw_data(), a.workspace.raw_data());
  }
  void gru_cell_forward(const GruCellForwardArgs& a) override {
    launch_gru_cell_forward(a.h_prev.dtype(), a.h_prev.size(0), a.h_prev.size(1), a.h.raw_data(),
                            a.workspace.raw_data(), a.igates.raw_data(), a.hgates.raw_data(),
                            a.h_prev.raw_data());
  }
  void gru_cell_backward(const GruCellBackwardArgs& a) override {
    launch_gru_cell_backward(a.h_prev.dtype(), a.h_prev.size(0), a.h_prev.size(1),
                             a.grad_igates.raw_data(), a.grad_hgates.raw_data(),
                             a.grad_h_prev.raw_data(), a.grad_h.raw_data(), a.h_prev.raw_data(),
                             a.workspace.raw_data());
  }

  void group_norm_forward(const GroupNormForwardArgs& a, const GroupNormParams& p) override {
    if (is_half(a.x.dtype())) return half_ops::group_norm_forward(*this, a, p);  // issue 16
    launch_group_norm_forward(a.x.dtype(), gn_shape(a.x, p), a.y.raw_data(), a.mean.raw_data(),
                              a.rstd.raw_data(), a.x.raw_data(), data_or_null(a.weight),
                              data_or_null(a.bias));
  }

  void group_norm_backward(const GroupNormBackwardArgs& a, const GroupNormParams& p) override {
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

  void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices) override {
    launch_embedding_forward(weight.dtype(), {indices.numel(), weight.size(0), weight.size(1), -1},
                             out.raw_data(), weight.raw_data(),
                             static_cast<const int64_t*>(indices.raw_data()));
  }

  void embedding_backward(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& indices,
                          int64_t padding_idx) override {
    launch_embedding_backward(
        grad_weight.dtype(),
        {indices.numel(), grad_weight.size(0), grad_weight.size(1), padding_idx},
        grad_weight.raw_data(), grad_out.raw_data(),
        static_cast<const int64_t*>(indices.raw_data()));
  }

  void upsample_bilinear_forward(const Tensor& out, const Tensor& x,
                                 const UpsampleBilinearParams& p) override {
    launch_upsample_bilinear_forward(x.dtype(), upsample_shape(x, out, p), out.raw_data(),
                                     x.raw_data());
  }

  void upsample_bilinear_backward(const Tensor& grad_x, const Tensor& grad_out,
                                  const UpsampleBilinearParams& p) override {
    launch_upsample_bilinear_backward(grad_x.dtype(), upsample_shape(grad_x, grad_out, p),
                                      grad_x.raw_data(), grad_out.raw_data());
  }

  void random(const Tensor& out, RandomDist dist, uint64_t seed, uint64_t offset, double a,
              double b) override {
    launch_random(out.dtype(), dist, out.raw_data(), out.numel(), seed, offset, a, b);
  }

  void index_select(const Tensor& out, const Tensor& in_any, int64_t dim,
                    const Tensor& index) override {
    Tensor in = raw::contiguous(in_any);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d) outer *= in.size(d);
    for (int64_t d = dim + 1; d < in.dim(); ++d) inner *= in.size(d);
    launch_index_select(in.element_size(), out.raw_data(), in.raw_data(),
                        static_cast<const int64_t*>(index.raw_data()), outer, in.size(dim),
                        index.numel(), inner, dim);
  }

  void check_index_range(const char* op, const Tensor& index, int64_t bound,
                         int64_t ignore) override {
    const unsigned id = std::strcmp(op, "nll_loss") == 0 ? kNllLoss : kIndexSelect;
    launch_check_index_range(static_cast<const int64_t*>(index.raw_data()), index.numel(), bound,
                             ignore, id);
  }

  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override {
    auto p = plan<3>(index.sizes(), {&out, &index, &in}, /*merge=*/false);
    p.strides[2][static_cast<size_t>(dim)] = 0;
    for_each_chunk(p, [&](const Geometry<3>& g, bool, const std::array<char*, 3>& ptr) {
      launch_gather(in.dtype(), g, ptr[0], reinterpret_cast<const int64_t*>(ptr[1]), ptr[2], dim,
                    in.size(dim), in.stride(dim));
    });
  }

  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                   const Tensor& src) override {
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

  // ---- fused optimizer steps and norms: one multi-tensor launch per dtype of the group ----

  void adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p) override {
    for_each_dtype(tensors, [&](DType dtype, const std::vector<const AdamTensors*>& group) {
      std::vector<AdamSlot> slots;
      slots.reserve(group.size());
      for (const AdamTensors* t : group) {
        const auto step = static_cast<double>(t->step);
        slots.push_back({t->param->raw_data(), t->grad->raw_data(), t->exp_avg->raw_data(),
                         t->exp_avg_sq->raw_data(),
                         p.amsgrad ? t->max_exp_avg_sq->raw_data() : nullptr, t->param->numel(),
                         p.lr / (1.0 - std::pow(p.beta1, step)),
                         1.0 / std::sqrt(1.0 - std::pow(p.beta2, step))});
      }
      launch_adam_multi_tensor(dtype, slots, p);
    });
  }

  void sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p) override {
    for_each_dtype(tensors, [&](DType dtype, const std::vector<const SgdTensors*>& group) {
      std::vector<SgdSlot> slots;
      slots.reserve(group.size());
      for (const SgdTensors* t : group)
        slots.push_back({t->param->raw_data(), t->grad->raw_data(),
                         p.momentum != 0.0 ? t->momentum_buffer->raw_data() : nullptr,
                         t->param->numel(), t->first_step});
      launch_sgd_multi_tensor(dtype, slots, p);
    });
  }

  // RMSprop, Adagrad, NAdam, RAdam: the step-dependent scalars per tensor on the host.
  void rmsprop_step(const std::vector<RmspropTensors>& tensors,
                    const RmspropStepParams& p) override {
    step_slots(
        tensors,
        [&](DType dtype, const std::vector<StepSlot>& slots) {
          launch_rmsprop_multi_tensor(dtype, slots, p);
        },
        [](const RmspropTensors& t) {
          return StepSlot{nullptr,
                          nullptr,
                          {data_of(t.square_avg), data_of(t.momentum_buffer), data_of(t.grad_avg)},
                          0,
                          {}};
        });
  }

  void adagrad_step(const std::vector<AdagradTensors>& tensors,
                    const AdagradStepParams& p) override {
    step_slots(
        tensors,
        [&](DType dtype, const std::vector<StepSlot>& slots) {
          launch_adagrad_multi_tensor(dtype, slots, p);
        },
        [&](const AdagradTensors& t) {
          return StepSlot{nullptr,
                          nullptr,
                          {data_of(t.sum), nullptr, nullptr},
                          0,
                          {adagrad_clr(p, t.step), 0.0, 0.0}};
        });
  }

  void nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p) override {
    step_slots(
        tensors,
        [&](DType dtype, const std::vector<StepSlot>& slots) {
          launch_nadam_multi_tensor(dtype, slots, p);
        },
        [&](const NadamTensors& t) {
          const NadamCoeffs k = nadam_coeffs(p, t.step, t.mu_product);
          return StepSlot{nullptr,
                          nullptr,
                          {data_of(t.exp_avg), data_of(t.exp_avg_sq), nullptr},
                          0,
                          {k.inv_bc2_sqrt, k.grad_coef, k.avg_coef}};
        });
  }

  void radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p) override {
    step_slots(
        tensors,
        [&](DType dtype, const std::vector<StepSlot>& slots) {
          launch_radam_multi_tensor(dtype, slots, p);
        },
        [&](const RadamTensors& t) {
          const RadamCoeffs k = radam_coeffs(p, t.step);
          return StepSlot{nullptr,
                          nullptr,
                          {data_of(t.exp_avg), data_of(t.exp_avg_sq), nullptr},
                          0,
                          {k.step_size, k.adaptive, k.rectified ? 1.0 : 0.0}};
        });
  }

  void multi_norm(const Tensor& out, const std::vector<const Tensor*>& tensors,
                  double norm_type) override {
    std::vector<NormSlot> slots;
    slots.reserve(tensors.size());
    for (const Tensor* t : tensors) slots.push_back({t->raw_data(), t->numel()});
    launch_norm_multi_tensor(tensors.empty() ? DType::f32 : tensors.front()->dtype(), slots,
                             norm_type, static_cast<double*>(out.raw_data()));
  }

  // ---- GradScaler (issue 16, scaler): kernels/cuda/amp.cu ----
  void amp_unscale(const std::vector<const Tensor*>& tensors, const Tensor& found_inf,
                   const Tensor& inv_scale) override {
    std::vector<UnscaleSlot> slots;
    slots.reserve(tensors.size());
    for (const Tensor* t : tensors) slots.push_back({t->raw_data(), t->numel()});
    if (slots.empty()) return;
    launch_amp_unscale(tensors.front()->dtype(), slots, static_cast<float*>(found_inf.raw_data()),
                       static_cast<const float*>(inv_scale.raw_data()));
  }
  void amp_update_scale(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                        const AmpScaleParams& p) override {
    launch_amp_update_scale(static_cast<float*>(scale.raw_data()),
                            static_cast<int64_t*>(growth_tracker.raw_data()),
                            static_cast<const float*>(found_inf.raw_data()), p);
  }

 private:
  static void* data_of(const Tensor* t) { return t == nullptr ? nullptr : t->raw_data(); }

  // launch_group(dtype, slots) per dtype of the group, each slot from slot_of(item) (its states
  // and scalars) with the parameter, gradient and size filled in here.
  template <typename Item, typename Launch, typename SlotOf>
  static void step_slots(const std::vector<Item>& items, Launch launch_group, SlotOf slot_of) {
    for_each_dtype(items, [&](DType dtype, const std::vector<const Item*>& group) {
      std::vector<StepSlot> slots;
      slots.reserve(group.size());
      for (const Item* t : group) {
        StepSlot s = slot_of(*t);
        s.param = t->param->raw_data();
        s.grad = t->grad->raw_data();
        s.n = t->param->numel();
        slots.push_back(s);
      }
      launch_group(dtype, slots);
    });
  }

  // f(dtype, members) for each parameter dtype present in the group, in first-seen order.
  template <typename Item, typename F>
  static void for_each_dtype(const std::vector<Item>& items, F f) {
    std::vector<DType> seen;
    for (const Item& it : items)
      if (std::find(seen.begin(), seen.end(), it.param->dtype()) == seen.end())
        seen.push_back(it.param->dtype());
    for (DType dtype : seen) {
      std::vector<const Item*> group;
      for (const Item& it : items)
        if (it.param->dtype() == dtype) group.push_back(&it);
      f(dtype, group);
    }
  }
};

}  // namespace

Backend& device_backend() {
  // Never destroyed, as the cpu backend (kernels/cpu/cpu_backend.cpp): tensors released
  // during static destruction still free through it.
  static DeviceBackend* const backend = new DeviceBackend;
  return *backend;
}

}  // namespace ember::EMBER_VARIANT
