#include "kernels/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "tensor/error.h"

namespace ember::cpu {

namespace {
// 64 bytes: a cache line, and enough for any SIMD load the compiler emits.
constexpr size_t kAlignment = 64;
}  // namespace

void* CpuBackend::allocate(size_t nbytes) {
  size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr)
    fail<ValueError>("allocate", "out of host memory allocating ", nbytes, " bytes on cpu");
  return p;
}

void CpuBackend::deallocate(void* ptr, size_t) noexcept { std::free(ptr); }

void CpuBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  std::memcpy(dst, host_src, nbytes);
}

void CpuBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  std::memcpy(host_dst, src, nbytes);
}

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace ember::cpu
