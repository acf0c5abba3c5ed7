// DeviceBackend's GEMM and convolutions (kernels/cuda/device_backend.h). On `cuda` the
// implementation options of ember::backends (tensor/backends.h) choose cuBLAS or ember's tiled
// GEMM, cuDNN or ember's convolution kernels, and TF32; `sim` has neither library and always
// runs ember's kernels (matmul.cu, conv2d.cu), which is how they are tested without a GPU.
#include "kernels/cuda/device_backend.h"

#include <algorithm>

#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/runtime.h"
#include "tensor/backends.h"
#include "tensor/raw.h"

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

}  // namespace

void DeviceBackend::matmul(const Tensor& out, const Tensor& a_in, const Tensor& b_in) {
  Tensor a = a_in, b = b_in;
  // sim has no cuBLAS: it always runs the tiled kernel.
  const bool cublas = EMBER_VARIANT_IS_CUDA && backends::cuda::matmul == backends::GemmImpl::cublas;
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

void DeviceBackend::conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w,
                                   const Tensor& bias, const Conv2dParams& p) {
  const Conv2dShape s = conv_shape(x, w, out, p);
  const bool tf32 = conv_uses_tf32(x.dtype());
  const void* b = bias.defined() ? bias.raw_data() : nullptr;
#if EMBER_VARIANT_IS_CUDA
  if (conv_uses_cudnn(x.dtype()))
    return cudnn_conv2d_forward(x.dtype(), s, tf32, out.raw_data(), x.raw_data(), w.raw_data(), b);
#endif
  launch_conv2d_forward(x.dtype(), s, tf32, out.raw_data(), x.raw_data(), w.raw_data(), b);
}

void DeviceBackend::conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out,
                                          const Tensor& w, const Conv2dParams& p) {
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

void DeviceBackend::conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_out,
                                           const Tensor& x, const Conv2dParams& p) {
  const Conv2dShape s = conv_shape(x, grad_w, grad_out, p);
  const bool tf32 = conv_uses_tf32(x.dtype());
#if EMBER_VARIANT_IS_CUDA
  if (conv_uses_cudnn(x.dtype()))
    return cudnn_conv2d_backward_weight(x.dtype(), s, tf32, grad_w.raw_data(), grad_out.raw_data(),
                                        x.raw_data());
#endif
  launch_conv2d_backward_weight(x.dtype(), s, tf32, grad_w.raw_data(), grad_out.raw_data(),
                                x.raw_data());
}

}  // namespace ember::EMBER_VARIANT
