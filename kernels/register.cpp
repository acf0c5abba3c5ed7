// The backends built into this library register here, on first use of the registry.
#include "kernels/cpu/cpu_backend.h"
#include "tensor/backend.h"
#include "tensor/pinned_memory.h"

// Each build of kernels/cuda defines its backend in its own namespace
// (kernels/cuda/variant.h); a translation unit can include kernels/cuda/backend.h for
// one of them only, so both are declared here.
namespace ember::sim_impl {
Backend& device_backend();
}
#if EMBER_HAVE_CUDA
namespace ember::cuda_impl {
Backend& device_backend();
}
// pin_memory (issue 18): cudaHostAlloc and async copies (runtime_cuda.cpp).
namespace ember::cuda_impl::rt {
std::optional<PinnedMemoryApi> pinned_memory_api();
}
#endif

namespace ember::detail {

void register_builtin_backends() {
  register_backend(&cpu::cpu_backend());
  register_backend(&sim_impl::device_backend());
#if EMBER_HAVE_CUDA
  register_backend(&cuda_impl::device_backend());  // available() says whether a GPU is there
  detail::register_pinned_memory_provider(&cuda_impl::rt::pinned_memory_api);
#endif
}

}  // namespace ember::detail
