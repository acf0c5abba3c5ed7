// The backend of the GPU devices: `sim` (kernels/cuda run by the SIMT simulator) and
// `cuda` (the same sources built by nvcc). This file is compiled once per build (see
// kernels/cuda/variant.h); each defines its own DeviceBackend.
#pragma once

#include "kernels/cuda/variant.h"
#include "tensor/backend.h"

namespace ember::EMBER_VARIANT {

Backend& device_backend();

// The implementation options of these devices (cuBLAS or ember's GEMM, cuDNN or ember's
// convolution, TF32, the attention path) are ember::backends (tensor/backends.h).

}  // namespace ember::EMBER_VARIANT
