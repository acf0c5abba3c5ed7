// Runs a cpu kernel with subnormals flushed to zero while ember::set_flush_denormal is on
// (tensor/denormals.h: why, and what changes). The first statement of every CpuBackend
// method that does floating-point arithmetic:
//
//   void CpuBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
//     const FlushDenormals flush;
//
// It sets the MXCSR's FTZ and DAZ bits on the calling thread and restores them on return,
// and, when the mode or the thread's OpenMP team size changed since its last kernel, sets
// or clears them once on every thread of that team (those threads keep them; a thread's
// first kernel counts as a change, so a thread that calls ember gets an OpenMP team even
// if its kernels are too small to run in parallel). Copies, fills and index moves do no
// arithmetic and leave the bits alone.
#pragma once

#include "tensor/denormals.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define EMBER_HAS_MXCSR 1
#else
#define EMBER_HAS_MXCSR 0
#endif

namespace ember::cpu {

// Brings this thread's OpenMP team up to the current mode (a no-op when it is).
void sync_denormal_workers();

class FlushDenormals {
 public:
  FlushDenormals() noexcept {
    sync_denormal_workers();
#if EMBER_HAS_MXCSR
    if (!is_flush_denormal_enabled()) return;
    saved_ = _mm_getcsr();
    if ((saved_ & kBits) != kBits) {
      _mm_setcsr(saved_ | kBits);
      restore_ = true;
    }
#endif
  }
  ~FlushDenormals() {
#if EMBER_HAS_MXCSR
    if (restore_) _mm_setcsr(saved_);
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

  static constexpr unsigned kBits = 0x8040;  // MXCSR bit 15 flush to zero, bit 6 denormals are zero

 private:
  unsigned saved_ = 0;
  bool restore_ = false;
};

}  // namespace ember::cpu
