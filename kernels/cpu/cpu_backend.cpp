#include "kernels/cpu/cpu_backend.h"

#include "kernels/cpu/host_cache.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "tensor/error.h"

namespace ember::cpu {

void* CpuBackend::allocate(size_t nbytes) { return host_allocate(nbytes); }

void CpuBackend::deallocate(void* ptr, size_t nbytes) noexcept { host_deallocate(ptr, nbytes); }

void CpuBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  std::memcpy(dst, host_src, nbytes);
}

void CpuBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  std::memcpy(host_dst, src, nbytes);
}

CpuBackend& cpu_backend() {
  // Never destroyed: a tensor released during static destruction (a process group's worker
  // thread finishing its last collective, a user's global) still returns its memory here.
  static CpuBackend* const backend = new CpuBackend;
  return *backend;
}

}  // namespace ember::cpu
