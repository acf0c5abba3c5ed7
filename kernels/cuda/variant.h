// Which of the two builds of kernels/cuda this translation unit belongs to.
//
// nvcc compiles kernels/cuda/*.cu into the `cuda` device; the host compiler compiles the
// same sources, with the simulator's header, into the `sim` device. Each build puts its
// code in its own namespace, so both link into one library without clashing:
//   ember::cuda_impl  -- nvcc, or host code of the cuda build (EMBER_VARIANT_CUDA=1)
//   ember::sim_impl   -- the host compiler otherwise
#pragma once

#if defined(__CUDACC__) || defined(EMBER_VARIANT_CUDA)
#define EMBER_VARIANT cuda_impl
#define EMBER_VARIANT_IS_CUDA 1
#else
#define EMBER_VARIANT sim_impl
#define EMBER_VARIANT_IS_CUDA 0
#endif
