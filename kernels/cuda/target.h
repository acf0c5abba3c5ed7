// What every kernels/cuda source includes first: the GPU's programming model under nvcc,
// or the SIMT simulator's (kernels/sim/sim.h) under the host compiler, and the one
// launch helper through which every kernel is launched.
#pragma once

#include <cstddef>
#include <utility>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#else
#include "kernels/sim/sim.h"
#endif

#include "kernels/cuda/runtime.h"
#include "kernels/cuda/variant.h"

// Device functions: inlined into the kernels on a GPU, plain inline functions on sim.
#define EMBER_DEVICE __device__ __forceinline__
#define EMBER_HOST_DEVICE __host__ __device__ __forceinline__
// Unroll the next loop on the GPU (the host compiler decides for itself).
#if defined(__CUDACC__)
#define EMBER_UNROLL _Pragma("unroll")
#else
#define EMBER_UNROLL
#endif

// Dynamic shared memory of the launch, as a T*: `EMBER_DYNAMIC_SHARED(float, smem);`
// (on a GPU `extern __shared__ float smem[];`, which has no host equivalent).
#if defined(__CUDACC__)
#define EMBER_DYNAMIC_SHARED(T, name)                                    \
  extern __shared__ __align__(16) unsigned char ember_dynamic_shared_[]; \
  T* name = reinterpret_cast<T*>(ember_dynamic_shared_)
#else
#define EMBER_DYNAMIC_SHARED(T, name) \
  T* name = static_cast<T*>(::ember::sim::detail::dynamic_shared())
#endif

namespace ember::EMBER_VARIANT {

struct LaunchConfig {
  const char* name;  // for errors: the kernel's name
  dim3 grid;
  dim3 block;
  size_t shared_bytes = 0;  // dynamic shared memory
};

// kernel<<<grid, block, shared_bytes, rt::stream()>>>(args...), checked. The only place
// in kernels/cuda that launches a kernel.
template <typename... Params, typename... Args>
void launch(const LaunchConfig& cfg, void (*kernel)(Params...), Args&&... args) {
#if defined(__CUDACC__)
  if (cfg.shared_bytes > 48 * 1024)
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(cfg.shared_bytes));
  kernel<<<cfg.grid, cfg.block, cfg.shared_bytes, static_cast<cudaStream_t>(rt::stream())>>>(
      std::forward<Args>(args)...);
  rt::check_launch(cfg.name);
#else
  ::ember::sim::launch(cfg.name, cfg.grid, cfg.block, cfg.shared_bytes, kernel,
                       std::forward<Args>(args)...);
#endif
}

}  // namespace ember::EMBER_VARIANT
