// The backend of the GPU devices: `sim` (kernels/cuda run by the SIMT simulator) and
// `cuda` (the same sources built by nvcc). This file is compiled once per build (see
// kernels/cuda/variant.h); each defines its own DeviceBackend.
#pragma once

#include "kernels/cuda/variant.h"
#include "tensor/backend.h"

namespace ember::EMBER_VARIANT {

Backend& device_backend();

// The GEMM behind matmul: cuBLAS (the default on cuda) or the hand-written tiled kernel
// (kernels/cuda/matmul.cu; always on sim). EMBER_CUDA_GEMM=tiled selects it at start.
enum class GemmImpl : uint8_t { cublas, tiled };
GemmImpl gemm_impl();
void set_gemm_impl(GemmImpl impl);

// f32 attention: the portable SIMT kernels (the default) or, for D = Dv in {32, 64, 128}
// on sm_80+, the bf16 tensor-core kernels (kernels/cuda/attention_bf16.cuh; on sim their
// products are emulated lane by lane). EMBER_ATTENTION_BF16=1 switches them on at start.
bool attention_bf16();
void set_attention_bf16(bool on);

// f32 conv2d on cuda: cuDNN (kernels/cuda/cudnn_conv.cpp; the default, used when it
// loads, until a GPU check has measured both) or ember's implicit-GEMM kernels
// (kernels/cuda/conv2d.cu; always on sim, and for f64). EMBER_CONV=cudnn|ember selects
// at start; an explicit choice of cudnn (or set_conv_impl) fails where cuDNN cannot be
// loaded. conv_impl() says what serves f32 now.
enum class ConvImpl : uint8_t { cudnn, ember };
ConvImpl conv_impl();
void set_conv_impl(ConvImpl impl);
// Whether f32 convolutions on cuda may use TF32 tensor cores (ember's kernels and cuDNN
// alike; sm_80+): EMBER_CONV_TF32=1, off by default since results then differ from f32.
bool conv_tf32();
void set_conv_tf32(bool on);

}  // namespace ember::EMBER_VARIANT
